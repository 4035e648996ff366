package io.mmsync.engine.apply;

import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import io.mmsync.engine.model.Op;

import java.math.BigDecimal;
import java.time.Instant;
import java.util.List;

/**
 * The rule of delta columns for syncs of three or more nodes (docs/conflicts.md "Three or more
 * nodes", "Delta columns"), pure so that it is tested without a database (DeltaRuleTest). A row's
 * state is a function of the set of its changes, whatever order a node receives them in:
 * <ul>
 * <li>the row exists iff its newest insert is newer than its newest delete ("remove wins": an
 * update never brings a row back);</li>
 * <li>its delta columns are the newest insert's values plus the deltas (new - old) of every update
 * newer than that insert;</li>
 * <li>its other columns are those of the newest of that insert and those updates.</li>
 * </ul>
 * "Newer" is by {@link Version}: at, then the node whose name sorts first, then the change id (one
 * node's changes of one instant in the order they were made). A node decides an incoming change
 * from the row's {@link Entry log} (what it knows of the key: its own queued changes and the changes
 * it received from the others, applied or not, see {@code mmsync.row_deltas}) and whether the row
 * is here. The log may have lost entries older than any change still to come; the rule treats a
 * missing insert as older than everything, which gives the same answers for newer changes.
 */
final class DeltaRule {
    private DeltaRule() {
    }

    /** A change's place in the order: (at, node, id). */
    record Version(Instant at, String node, long id) implements Comparable<Version> {
        /** Positive when this version is newer: later, or as late and the node sorting first, then the larger id. */
        @Override
        public int compareTo(Version o) {
            int c = at.compareTo(o.at);
            if (c != 0) {
                return c;
            }
            c = o.node.compareTo(node);
            return c != 0 ? c : Long.compare(id, o.id);
        }

        boolean newerThan(Version o) {
            return o == null || compareTo(o) > 0;
        }
    }

    /** One known change of the row: op, version, and its images (jsonb text; null where the op has none). */
    record Entry(Op op, Version version, String oldRow, String newRow) {
    }

    /** What the node does with an incoming change. */
    enum Kind {
        /** an update: add its deltas and take its other columns */
        APPLY,
        /** an update: add its deltas, keep the other columns (a newer change wrote them) */
        DELTA_ONLY,
        /** a delete that removes the row */
        DELETE,
        /** an insert: write {@link Result#row} (upsert) */
        WRITE,
        /** nothing changes (an update of a row that is gone or of an older incarnation; an older insert or delete) */
        SKIP
    }

    /** The decision, the row to write for {@link Kind#WRITE}, and whether the row is here afterwards. */
    record Result(Kind kind, String row, boolean hereAfter) {
    }

    static Result decide(List<Entry> log, boolean here, Entry c, List<String> deltaColumns) {
        Version born = newest(log, Op.INSERT, null);
        Version removed = newest(log, Op.DELETE, null);
        switch (c.op()) {
            case INSERT: {
                if (!c.version().newerThan(born)) {
                    return new Result(Kind.SKIP, null, here); // an incarnation a newer insert replaced
                }
                if (!c.version().newerThan(removed)) {
                    return new Result(Kind.SKIP, null, here); // deleted after it (remove wins): the row stays as it is
                }
                return new Result(Kind.WRITE, incarnation(log, c, deltaColumns), true);
            }
            case UPDATE: {
                if (!here || !c.version().newerThan(born)) {
                    return new Result(Kind.SKIP, null, here);
                }
                Version wrote = born;
                for (Entry e : log) {
                    if (e.op() == Op.UPDATE && e.version().newerThan(wrote)) {
                        wrote = e.version();
                    }
                }
                return new Result(c.version().newerThan(wrote) ? Kind.APPLY : Kind.DELTA_ONLY, null, true);
            }
            case DELETE: {
                if (!c.version().newerThan(born)) {
                    return new Result(Kind.SKIP, null, here); // older than the row's incarnation
                }
                return new Result(here ? Kind.DELETE : Kind.SKIP, null, false);
            }
            default:
                throw new IllegalArgumentException("no delta rule for " + c.op());
        }
    }

    /** The row an insert starts: the newest image among it and the newer updates, delta columns summed. */
    private static String incarnation(List<Entry> log, Entry ins, List<String> deltaColumns) {
        JsonObject insert = JsonParser.parseString(ins.newRow()).getAsJsonObject();
        Entry newest = ins;
        BigDecimal[] sums = new BigDecimal[deltaColumns.size()];
        boolean[] added = new boolean[sums.length];
        for (int i = 0; i < sums.length; i++) {
            sums[i] = number(insert.get(deltaColumns.get(i)));
        }
        for (Entry e : log) {
            if (e.op() != Op.UPDATE || !e.version().newerThan(ins.version())) {
                continue;
            }
            JsonObject o = JsonParser.parseString(e.oldRow()).getAsJsonObject();
            JsonObject n = JsonParser.parseString(e.newRow()).getAsJsonObject();
            for (int i = 0; i < sums.length; i++) {
                String col = deltaColumns.get(i);
                sums[i] = sums[i].add(number(n.get(col)).subtract(number(o.get(col))));
                added[i] = true;
            }
            if (e.version().newerThan(newest.version())) {
                newest = e;
            }
        }
        JsonObject row = JsonParser.parseString(newest.newRow()).getAsJsonObject();
        for (int i = 0; i < sums.length; i++) {
            JsonElement own = insert.get(deltaColumns.get(i));
            // the insert's own value where no update added to it (also a NULL)
            row.add(deltaColumns.get(i), added[i] ? new JsonPrimitive(sums[i]) : own == null ? JsonNull.INSTANCE : own);
        }
        return row.toString();
    }

    private static BigDecimal number(JsonElement e) {
        return e == null || e.isJsonNull() ? BigDecimal.ZERO : e.getAsBigDecimal();
    }

    private static Version newest(List<Entry> log, Op op, Version start) {
        Version v = start;
        for (Entry e : log) {
            if (e.op() == op && e.version().newerThan(v)) {
                v = e.version();
            }
        }
        return v;
    }
}
