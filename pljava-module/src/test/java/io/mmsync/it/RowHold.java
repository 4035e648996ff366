package io.mmsync.it;

import io.mmsync.testenv.PgCluster;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Set;
import java.util.TreeSet;

/**
 * Holds the writes into a table at given rows whatever their speed: a trigger of the test's
 * (BEFORE INSERT OR UPDATE, fired in replica mode too) makes the insert or update of a held row
 * (column {@code id}) wait for an advisory lock this object takes, until the row is let through
 * ({@link #pass}) or the lock released. A copy worker or an applier that reaches a held row waits
 * there, inside its transaction, after what it did before committed: a fault injected then comes
 * in the middle of the work. (An uncommitted write of the row would hold it too, but its lock on
 * the table holds off the sync's triggers and a copy's drop of indexes, and an update needs the
 * row to be there already.) The trigger's function and the held rows live in schema test_hold.
 */
final class RowHold implements AutoCloseable {
    private static final long KEY = 4242;
    private final PgCluster node;
    private final String table;
    private final Connection holder;
    private final int holderPid;

    /** Holds the {@code op} ('INSERT' or 'UPDATE') of each row of {@code ids} in {@code table} on {@code node}. */
    RowHold(PgCluster node, String table, String op, long... ids) throws SQLException {
        this.node = node;
        this.table = table;
        node.execute(Pair.DB, "CREATE SCHEMA test_hold; CREATE TABLE test_hold.rows (op text, id bigint, PRIMARY KEY (op, id)); "
                + "CREATE FUNCTION test_hold.hold() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN "
                + "IF EXISTS (SELECT 1 FROM test_hold.rows h WHERE h.op = TG_OP AND h.id = NEW.id) THEN "
                + "PERFORM pg_advisory_xact_lock_shared(" + KEY + "); END IF; RETURN NEW; END$$; "
                + "CREATE TRIGGER test_hold BEFORE INSERT OR UPDATE ON " + table + " FOR EACH ROW EXECUTE FUNCTION test_hold.hold(); "
                + "ALTER TABLE " + table + " ENABLE ALWAYS TRIGGER test_hold");
        hold(op, ids);
        holder = node.connect(Pair.DB);
        try (Statement st = holder.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_backend_pid(), pg_advisory_lock(" + KEY + ")")) {
            rs.next();
            holderPid = rs.getInt(1);
        }
    }

    /** Holds these rows too. */
    void hold(String op, long... ids) {
        for (long id : ids) {
            node.execute(Pair.DB, "INSERT INTO test_hold.rows VALUES ('" + op + "', " + id + ")");
        }
    }

    /** Lets the {@code op} of row {@code id} through from now on (a session already waiting there waits on). */
    void pass(String op, long id) {
        node.execute(Pair.DB, "DELETE FROM test_hold.rows WHERE op = '" + op + "' AND id = " + id);
    }

    /** Sessions waiting at a held row. */
    long waiting() {
        return waiters().size();
    }

    /**
     * The pids of the sessions waiting at a held row (one whose client was killed waits on until
     * the lock is released or its replacement ends it).
     */
    Set<Integer> waiters() {
        String pids = node.queryString(Pair.DB, "SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity "
                + "WHERE " + holderPid + " = ANY (pg_blocking_pids(pid))");
        Set<Integer> out = new TreeSet<>();
        for (String p : pids.split(",")) {
            if (!p.isEmpty()) {
                out.add(Integer.parseInt(p));
            }
        }
        return out;
    }

    /** Lets the waiting sessions go on, and every held row through. */
    void release() throws SQLException {
        node.execute(Pair.DB, "DELETE FROM test_hold.rows");
        try (Statement st = holder.createStatement()) {
            st.execute("SELECT pg_advisory_unlock(" + KEY + ")");
        }
    }

    /** Drops the trigger and schema test_hold. */
    void drop() {
        node.execute(Pair.DB, "DROP TRIGGER test_hold ON " + table + "; DROP SCHEMA test_hold CASCADE");
    }

    /** The first key of a copy range's bound literal (ROW('578'::bigint)), for a query on mmsync.copy_ranges. */
    static String boundKey(String column) {
        return "(regexp_match(" + column + ", '-?[0-9]+'))[1]::bigint";
    }

    @Override
    public void close() throws SQLException {
        holder.close();
    }
}
