package io.mmsync.engine.model;

import java.time.Instant;
import java.util.Objects;

/**
 * One captured row change as the engine sees it, independent of how the queue stores it.
 * Row images are JSON objects (column name to value) as PostgreSQL's {@code to_jsonb(row)} wrote
 * them; the engine passes them through as text and never parses them. {@code key} identifies the
 * row before the change (after it, for an insert) and {@code newKey} after an update.
 */
public final class Change {
    private final ChangeId id;
    private final TableRef table;
    private final Op op;
    private final Instant at;
    private final String key;
    private final String newKey;
    private final String oldRow;
    private final String newRow;
    private final boolean insertOnly;

    public Change(ChangeId id, TableRef table, Op op, Instant at, String key, String newKey,
                  String oldRow, String newRow) {
        this(id, table, op, at, key, newKey, oldRow, newRow, false);
    }

    /** {@code insertOnly}: the table has no primary key and is synced insert-only. */
    public Change(ChangeId id, TableRef table, Op op, Instant at, String key, String newKey,
                  String oldRow, String newRow, boolean insertOnly) {
        this.id = Objects.requireNonNull(id);
        this.table = Objects.requireNonNull(table);
        this.op = Objects.requireNonNull(op);
        this.at = at;
        this.key = Objects.requireNonNull(key, "key");
        this.newKey = op == Op.UPDATE ? Objects.requireNonNull(newKey, "newKey") : key;
        this.oldRow = oldRow;
        this.newRow = newRow;
        this.insertOnly = insertOnly;
        // a truncate's new image, if any, says what its origin had applied of each other node
        boolean imagesOk = op == Op.TRUNCATE ? oldRow == null
                : (op == Op.DELETE) == (newRow == null) && (op == Op.INSERT) == (oldRow == null);
        if (!imagesOk) {
            throw new IllegalArgumentException("change " + id + " (" + op + ") has the wrong row images");
        }
    }

    public ChangeId id() {
        return id;
    }

    public TableRef table() {
        return table;
    }

    public Op op() {
        return op;
    }

    /** When the change was made on its origin (start of its transaction). */
    public Instant at() {
        return at;
    }

    public String key() {
        return key;
    }

    public String newKey() {
        return newKey;
    }

    public boolean insertOnly() {
        return insertOnly;
    }

    /** The image that names the row at the peer: the new one for an insert, else the old one. */
    public String keyRow() {
        return op == Op.INSERT ? newRow : oldRow;
    }

    /** True for an update that changes the primary key. */
    public boolean movesKey() {
        return !key.equals(newKey);
    }

    public String oldRow() {
        return oldRow;
    }

    public String newRow() {
        return newRow;
    }

    /** Approximate size in bytes, for bounding batches. */
    public long weight() {
        return 64L + (oldRow == null ? 0 : oldRow.length()) + (newRow == null ? 0 : newRow.length());
    }

    @Override
    public String toString() {
        return "Change[" + id + " " + op + " " + table + "]";
    }
}
