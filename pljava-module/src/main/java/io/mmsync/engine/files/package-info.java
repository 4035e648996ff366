/**
 * File sync (issue 16): directories on the application servers (Mattermost's plugins) kept
 * identical through the databases. One worker per synced directory ({@code FileSyncWorker}, started
 * by {@code FileSyncs}) scans this node's copy ({@code DiskScan}, {@code Scanner}, woken by the
 * {@code Watcher}), stores settled changes in {@code mmsync.files} and chunk contents in
 * {@code mmsync.file_chunks} ({@code FileStore}, {@code Chunker}), and takes the peer's changes over
 * its own connection to the peer ({@code Puller}: {@code Decision} per file, {@code DiskWriter}
 * writes atomically). Uses only the connector, the clock and nothing of the row replication: its
 * own threads and connections, so files never hold back row changes. See docs/files.md.
 */
package io.mmsync.engine.files;
