package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Both nodes increment, and delete and re-insert (in one transaction), the same 12 rows of a table with a delta
 * column at once for a few seconds, agents running. Each writer transaction copies the changes it
 * queued (mmsync.changes of its own transaction: op, time, delta) into a local ledger, so the test
 * knows every change with the time latest compares. At the end both nodes are identical and every
 * row is what the rule of docs/conflicts.md says: absent if no insert is newer than its newest
 * delete (remove wins over later updates), else the value of its newest insert plus the deltas of
 * the updates made after that insert. The writers also delete rows without inserting them again
 * (and insert a row they find deleted), in a second run.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class DeltaIncarnationRaceIT {
    private static final int KEYS = 12;
    private static final String SCHEMA = "CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL, note text NOT NULL);"
            + "INSERT INTO acct SELECT i, 10, 'orig' FROM generate_series(1, " + KEYS + ") i;"
            + "CREATE TABLE ledger (node text, id int, op text, at timestamptz, d int);";
    private static final String LEDGER = "INSERT INTO ledger SELECT '%s', (coalesce(c.new, c.old) ->> 'id')::int, c.op, c.at, "
            + "coalesce((c.new ->> 'v')::int, 0) - coalesce((c.old ->> 'v')::int, 0) FROM mmsync.changes c "
            + "WHERE c.xid = pg_current_xact_id()";

    /** One event of the ledger. */
    private record Event(String node, int id, char op, Instant at, long d) {
    }

    /** latest's order: later first; on equal times the node whose name sorts first is the greater. */
    private static final Comparator<Event> ORDER = Comparator.comparing(Event::at)
            .thenComparing(Event::node, Comparator.reverseOrder());

    private static int write(PgCluster node, long until, boolean deletes) throws SQLException {
        int done = 0;
        try (Connection c = node.connect(Pair.DB); Statement st = c.createStatement()) {
            c.setAutoCommit(false);
            ThreadLocalRandom r = ThreadLocalRandom.current();
            String ledger = String.format(LEDGER, node.name());
            while (System.nanoTime() < until) {
                int k = 1 + r.nextInt(KEYS);
                int p = r.nextInt(10);
                try {
                    if (p < 7) {
                        int n = st.executeUpdate("UPDATE acct SET v = v + " + (1 + r.nextInt(3)) + ", note = '"
                                + node.name() + "' WHERE id = " + k);
                        if (n == 0 && r.nextInt(4) == 0) {
                            // deleted here: sometimes inserted again (a re-insert ends what a delete began)
                            st.execute("INSERT INTO acct VALUES (" + k + ", " + r.nextInt(5) + ", '" + node.name() + " back')");
                        }
                    } else if (p < 8 || !deletes) {
                        st.execute("DELETE FROM acct WHERE id = " + k + "; INSERT INTO acct VALUES (" + k + ", "
                                + r.nextInt(5) + ", '" + node.name() + " new')");
                    } else {
                        // a delete alone: it wins over the other node's concurrent updates (remove wins)
                        st.execute("DELETE FROM acct WHERE id = " + k);
                    }
                    st.execute(ledger);
                    c.commit();
                    done++;
                } catch (SQLException e) {
                    c.rollback(); // a deadlock or serialization failure with the apply: the ledger goes too
                }
            }
        }
        return done;
    }

    private static List<Event> ledger(PgCluster c) throws SQLException {
        List<Event> out = new ArrayList<>();
        try (Connection conn = c.connect(Pair.DB); Statement st = conn.createStatement();
             ResultSet rs = st.executeQuery("SELECT node, id, op, at, d FROM ledger")) {
            while (rs.next()) {
                out.add(new Event(rs.getString(1), rs.getInt(2), rs.getString(3).charAt(0),
                        rs.getTimestamp(4).toInstant(), rs.getLong(5)));
            }
        }
        return out;
    }

    /** What the rule says each row must be: its value, or absent. */
    private static String expected(List<Event> events) {
        Map<Integer, List<Event>> byKey = new TreeMap<>();
        for (int k = 1; k <= KEYS; k++) {
            byKey.put(k, new ArrayList<>(List.of(new Event("~initial", k, 'I', Instant.EPOCH, 10))));
        }
        events.forEach(e -> byKey.get(e.id()).add(e));
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<Integer, List<Event>> e : byKey.entrySet()) {
            List<Event> ev = e.getValue();
            ev.sort(ORDER);
            int ins = 0;
            int del = -1;
            for (int i = 0; i < ev.size(); i++) {
                if (ev.get(i).op() == 'I') {
                    ins = i;
                } else if (ev.get(i).op() == 'D') {
                    del = i;
                }
            }
            if (del > ins) {
                continue; // remove wins: no insert after the newest delete, whatever updates came later
            }
            long v = ev.get(ins).d();
            for (int i = ins + 1; i < ev.size(); i++) {
                if (ev.get(i).op() == 'U') {
                    v += ev.get(i).d();
                }
            }
            sb.append(sb.length() > 0 ? " " : "").append(e.getKey()).append('=').append(v);
        }
        return sb.toString();
    }

    private static String values(PgCluster c) {
        return c.queryString(Pair.DB, "SELECT coalesce(string_agg(id || '=' || v, ' ' ORDER BY id), '') FROM acct");
    }

    @Test
    void bothNodesDeletingReinsertingAndIncrementingTheSameRows() throws Exception {
        race(false);
    }

    @Test
    void bothNodesAlsoDeletingRowsWithoutReinsertingThem() throws Exception {
        race(true);
    }

    private static void race(boolean deletes) throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("tables => 'acct', initial => 'none'");
            pair.blue.execute(Pair.DB, "SELECT mmsync.set_column_policy('acct', 'v', 'delta')");
            pair.startAgents();
            Waits.until(java.time.Duration.ofSeconds(60), "sync and column policy on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.column_policies") == 1
                            && pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.syncs") == 1);
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(6);
                Future<Integer> b = pool.submit(() -> write(pair.blue, until, deletes));
                Future<Integer> g = pool.submit(() -> write(pair.green, until, deletes));
                assertTrue(b.get() > 0 && g.get() > 0, "both wrote");
                System.out.println("DeltaIncarnationRaceIT: transactions blue " + b.get() + ", green " + g.get());
            } finally {
                pool.shutdownNow();
            }
            pair.awaitSynced();
            List<Event> events = new ArrayList<>(ledger(pair.blue));
            events.addAll(ledger(pair.green));
            String want = expected(events);
            System.out.println("DeltaIncarnationRaceIT: " + events.size() + " changes, conflicts logged blue "
                    + pair.blue.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.conflicts") + ", green "
                    + pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.conflicts") + "; rows " + want);
            assertEquals(Pair.fingerprint(pair.blue, "acct"), Pair.fingerprint(pair.green, "acct"),
                    () -> "blue " + values(pair.blue) + " / green " + values(pair.green));
            assertEquals(want, values(pair.blue), () -> "blue, " + events.size() + " changes");
            assertEquals(want, values(pair.green), "green");
        }
    }
}
