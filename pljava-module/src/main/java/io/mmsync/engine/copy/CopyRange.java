package io.mmsync.engine.copy;

import io.mmsync.engine.model.TableRef;

import java.util.Objects;

/**
 * One key range of a table to copy: the primary key from {@code lo} (inclusive) to {@code hi}
 * (exclusive), as SQL row literals, null for unbounded; {@code doneSnapshot} is the origin
 * snapshot it was copied at, null while not done. Immutable.
 */
final class CopyRange {
    final TableRef table;
    final int no;
    final String lo;
    final String hi;
    final String doneSnapshot;

    CopyRange(TableRef table, int no, String lo, String hi, String doneSnapshot) {
        this.table = Objects.requireNonNull(table);
        this.no = no;
        this.lo = lo;
        this.hi = hi;
        this.doneSnapshot = doneSnapshot;
    }

    /** The WHERE condition selecting the range over alias t, for a key of columns {@code keyRow} (ROW(t.a, ...)). */
    String where(String keyRow) {
        if (keyRow == null) {
            return "true"; // a table without a primary key: one range
        }
        String c = "true";
        if (lo != null) {
            c = keyRow + " >= " + lo;
        }
        if (hi != null) {
            c = c + " AND " + keyRow + " < " + hi;
        }
        return c;
    }

    @Override
    public String toString() {
        return table + " range " + no;
    }
}
