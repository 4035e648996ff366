/**
 * Values both sides of a link share, immutable and free of I/O: a change ({@code Change},
 * {@code ChangeId}, {@code Op}, {@code TableRef}), a page and a position in the queue
 * ({@code Page}, {@code Position}), the local sync row ({@code SyncState}) with its conflict
 * strategy ({@code ConflictStrategy}) and a link's state ({@code LinkState}), each with its one
 * mapping to and from SQL text, and the SQL form of a change key ({@code KeySql}).
 */
package io.mmsync.engine.model;
