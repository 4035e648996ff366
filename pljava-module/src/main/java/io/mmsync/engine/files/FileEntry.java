package io.mmsync.engine.files;

import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * One file of a synced directory as a node recorded it (a row of {@code mmsync.files}): its
 * content (SHA-256 of the whole file and of each chunk), mode, modification time, or a deletion.
 * {@code origin} is the node whose change this content is; {@code agreed} the content this node
 * last knew the peer to have too (see {@link Decision}).
 */
record FileEntry(String path, String hash, List<String> chunks, long size, int mode, long mtimeUs, boolean deleted,
                 String origin, Instant changedAt, String agreed, long seq) {
    /** The {@link #key()} of a deletion. */
    static final String DELETED = "deleted";

    FileEntry {
        Objects.requireNonNull(path, "path");
        if (deleted != (hash == null)) {
            throw new IllegalArgumentException("file " + path + ": a deletion has no hash, a file has one");
        }
        chunks = chunks == null ? List.of() : List.copyOf(chunks);
    }

    static FileEntry deletion(String path, String origin, Instant at, String agreed) {
        return new FileEntry(path, null, List.of(), 0, 0, 0, true, origin, at, agreed, 0);
    }

    /** What the content is: its hash, or {@link #DELETED}. */
    String key() {
        return deleted ? DELETED : hash;
    }

    FileEntry withAgreed(String a) {
        return new FileEntry(path, hash, chunks, size, mode, mtimeUs, deleted, origin, changedAt, a, seq);
    }

    /** The top-level entry of the synced directory this file belongs to: a plugin's directory, or the file. */
    String unit() {
        int slash = path.indexOf('/');
        return slash < 0 ? path : path.substring(0, slash);
    }
}
