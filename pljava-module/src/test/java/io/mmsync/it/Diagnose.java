package io.mmsync.it;

import io.mmsync.testenv.PgCluster;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a test reports when a row of table {@code load} differs where it should not: the row's
 * queued changes on its origin (id, xid, commit status, whether the link's confirmed snapshot and
 * the queue's purge snapshot cover them, whether they lie below the queue's floor), the link's
 * confirmed snapshot, the queue's tables and state there, and the position the peer holds. Lines
 * name a row as {@code row <id> of <origin>'s writer}.
 */
final class Diagnose {
    private static final Pattern ROW = Pattern.compile("row (\\d+) of (blue|green)'s writer");

    private Diagnose() {
    }

    /** The state of each row named in {@code lines} (at most 5), on its origin and its peer. */
    static String state(Pair pair, List<String> lines) {
        List<String> out = new ArrayList<>();
        int n = 0;
        for (String line : lines) {
            Matcher m = ROW.matcher(line);
            if (!m.find() || n++ == 5) {
                continue;
            }
            long id = Long.parseLong(m.group(1));
            boolean fromBlue = m.group(2).equals("blue");
            PgCluster origin = fromBlue ? pair.blue : pair.green;
            PgCluster peer = fromBlue ? pair.green : pair.blue;
            out.add(line);
            out.add("  queued on " + origin.name() + ": " + origin.queryString(Pair.DB, "SELECT string_agg(format('id=%s xid=%s %s %s n=%s "
                    + "confirmed=%s purged=%s below_floor=%s', c.id, c.xid, pg_xact_status(c.xid), c.op, c.new->>'n', "
                    + "pg_visible_in_snapshot(c.xid, l.confirmed_lo), pg_visible_in_snapshot(c.xid, q.purged), c.id < q.floor), '; ' "
                    + "ORDER BY c.id) FROM mmsync.change_queue c CROSS JOIN mmsync.queue_state q "
                    + "LEFT JOIN mmsync.links l ON l.sync_name = 'app' AND l.peer = '" + peer.name() + "' "
                    + "WHERE c.relid = 'load'::regclass AND coalesce(c.new, c.old)->>'id' = '" + id + "'"));
            out.add("  link " + origin.name() + "->" + peer.name() + ": " + origin.queryString(Pair.DB,
                    "SELECT format('confirmed_lo=%s state=%s', confirmed_lo, state) FROM mmsync.links WHERE peer = '"
                            + peer.name() + "'"));
            out.add("  queue on " + origin.name() + ": " + origin.queryString(Pair.DB, "SELECT format('state purged=%s floor=%s seq=%s/%s; ', "
                    + "q.purged, q.floor, s.last_value, s.is_called) || (SELECT string_agg(t::text, ' ' ORDER BY t.slot) FROM "
                    + "mmsync.queue_tables t) FROM mmsync.queue_state q, mmsync.change_queue_id_seq s"));
            out.add("  position at " + peer.name() + ": " + peer.queryString(Pair.DB, "SELECT format('lo=%s hi=%s last_id=%s "
                    + "applied=%s', lo, hi, last_id, applied) FROM mmsync.progress WHERE origin = '" + origin.name() + "'"));
            out.add("  conflicts at " + peer.name() + ": " + peer.queryString(Pair.DB, "SELECT count(*) FROM mmsync.conflicts")
                    + ", set aside: " + peer.queryString(Pair.DB, "SELECT count(*) FROM mmsync.set_aside"));
            out.add("  rows now: " + rowOnBoth(pair, id));
        }
        return String.join("\n", out);
    }

    /** The rows of table load named in a compare's output, as lines "row N of blue's writer" (odd ids) or green's (even). */
    static List<String> loadKeys(String compareOutput) {
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile("\"load\" \\{\"id\": (\\d+)\\}").matcher(compareOutput);
        while (m.find()) {
            long id = Long.parseLong(m.group(1));
            out.add("row " + id + " of " + (id % 2 == 1 ? "blue" : "green") + "'s writer");
        }
        return out;
    }

    /** Each named row as it is now on blue and on green. */
    static String rowsOnBoth(Pair pair, List<String> lines) {
        List<String> out = new ArrayList<>();
        for (String line : lines) {
            Matcher m = ROW.matcher(line);
            if (m.find()) {
                out.add(m.group(1) + ": " + rowOnBoth(pair, Long.parseLong(m.group(1))));
            }
        }
        return String.join("; ", out);
    }

    private static String rowOnBoth(Pair pair, long id) {
        String sql = "SELECT coalesce((SELECT t::text FROM load t WHERE id = " + id + "), 'absent')";
        return "blue " + pair.blue.queryString(Pair.DB, sql) + ", green " + pair.green.queryString(Pair.DB, sql);
    }
}
