package io.mmsync.engine.compare;

import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Makes the peer (the losing node) hold the winner's version of rows through the normal apply path:
 * the winner queues each row it holds (an insert, or an update from the row the loser holds), or a
 * delete where it holds none, as an ordinary change of its own queue (mmsync._repair_enqueue,
 * recorded in mmsync.repair_changes); its link sends it like any change, so the loser applies it
 * once, in order with the row's other changes, through the conflict resolver, or sets it aside.
 * <p>
 * Per batch of keys: first every change committed on the loser is applied at the winner; then, in
 * one winner transaction, the winner's rows are locked (FOR SHARE) and read; then every change
 * committed on the winner before is applied at the loser (wait_synced); then the loser's rows are
 * read, and the changes queued with them as their old images. No change of the winner's rows can
 * come between: the loser's row is what the winner's earlier changes left, so an update adds the
 * right difference to a delta column (no double count). A key the loser changed after its wait (a
 * change its peer has not confirmed) is skipped this time: that change is on its way, and the next
 * round or pass looks at the key again. A change the loser's application makes after the read
 * meets the repair change as a conflict, settled the same way on both nodes by the sync's strategy.
 * <p>
 * In bulk (a merge: many keys, most on one node only) a batch waits for neither queue when the
 * loser holds none of its rows: each change is then an insert of the winner's whole row, which the
 * loser applies as an upsert after the winner's earlier changes of it, whatever they were, so the
 * batches go at the speed of queueing while the links apply them. A batch with rows on the loser
 * waits for the winner's queue as above, and only its keys the loser holds go through the in-flight
 * check (a row the loser deleted during the merge, its delete still in flight, can come back: a
 * merge keeps the rows of both).
 */
final class RepairQueue {
    /** Keys per winner transaction (its row locks are held while the winner's queue drains). */
    static final int BATCH = 2_000;

    /** One node's side of a repair: a connection for its transactions and one to wait on its queue. */
    record Side(String name, Connection tx, Connection waiter) {
        /** The side, its connections made to outlast a wait of {@code wait} (read timeout, idle transaction). */
        static Side of(String name, Connection tx, Connection waitOn, Duration wait) throws SQLException {
            for (Connection c : new Connection[] {tx, waitOn}) {
                c.setNetworkTimeout(Runnable::run, (int) Math.min(Integer.MAX_VALUE, wait.toMillis() + 600_000));
                try (java.sql.Statement st = c.createStatement()) {
                    st.execute("SET idle_in_transaction_session_timeout = 0");
                }
            }
            return new Side(name, tx, waitOn);
        }
    }

    /** One queued repair change. */
    record Queued(TableRef table, String key, long changeId, String op, String old, String next) {
    }

    private final String sync;
    private final String kind;
    private final Long runId;
    private final Duration wait;
    private final boolean bulk;

    /**
     * {@code kind}: repair or merge; {@code runId}: the compare run that asked (null for a merge);
     * {@code bulk}: many keys (a merge), see above.
     */
    RepairQueue(String sync, String kind, Long runId, Duration wait, boolean bulk) {
        this.sync = sync;
        this.kind = kind;
        this.runId = runId;
        this.wait = wait;
        this.bulk = bulk;
    }

    /**
     * Queues on the winner the changes that make the loser's rows of {@code keys} equal to the
     * winner's; keys both hold equally are skipped. {@code keepBoth}: never delete (a merge keeps
     * the rows of both: a key the winner lacks by then is left for the other direction).
     */
    List<Queued> queue(Side winner, Side loser, TableRef t, List<String> keys, boolean keepBoth) throws SQLException {
        List<Queued> out = new ArrayList<>();
        for (int i = 0; i < keys.size(); i += BATCH) {
            out.addAll(batch(winner, loser, t, keys.subList(i, Math.min(keys.size(), i + BATCH)), keepBoth));
        }
        return out;
    }

    private List<Queued> batch(Side winner, Side loser, TableRef t, List<String> keys, boolean keepBoth) throws SQLException {
        if (!bulk) {
            // the loser's changes in flight first (e.g. a delete of a key the winner alone seems to hold)
            waitSynced(loser.waiter(), sync, loser.name(), wait);
        }
        Connection wc = winner.tx();
        boolean auto = wc.getAutoCommit();
        wc.setAutoCommit(false);
        try {
            Map<String, String> w = images(wc, t, keys, true);
            Map<String, String> l = bulk ? images(loser.tx(), t, keys, false) : null;
            if (l == null || !l.isEmpty()) {
                waitSynced(winner.waiter(), sync, winner.name(), wait);
                l = images(loser.tx(), t, keys, false);
            }
            // a key the loser changed since its wait is left for the next round (the change is on its way)
            // (in bulk only for keys the loser holds: looking costs a pass over the loser's unconfirmed
            // changes, which a merge fills with the other direction's inserts)
            List<String> look = bulk ? new ArrayList<>(l.keySet()) : keys;
            Set<String> busy = look.isEmpty() ? Set.of() : inFlight(loser.tx(), t, look);
            StringBuilder changes = new StringBuilder("[");
            Map<String, String[]> sent = new LinkedHashMap<>();
            for (String k : keys) {
                String now = w.get(k);
                String was = l.get(k);
                if (Objects.equals(now, was) || (keepBoth && now == null) || busy.contains(k)) {
                    continue;
                }
                changes.append(sent.isEmpty() ? "" : ",").append("{\"key\":").append(k).append(",\"old\":").append(was)
                        .append(",\"new\":").append(now).append('}');
                sent.put(k, new String[] {was, now});
            }
            List<Queued> out = new ArrayList<>();
            if (!sent.isEmpty()) {
                try (PreparedStatement st = wc.prepareStatement("SELECT key, change_id, op FROM mmsync._repair_enqueue(?, ?::regclass, ?, ?, ?::jsonb)")) {
                    st.setString(1, sync);
                    st.setString(2, t.quoted());
                    st.setString(3, kind);
                    st.setObject(4, runId, Types.BIGINT);
                    st.setObject(5, changes.append(']').toString(), Types.OTHER);
                    try (ResultSet rs = st.executeQuery()) {
                        while (rs.next()) {
                            String[] images = sent.get(rs.getString(1));
                            out.add(new Queued(t, rs.getString(1), rs.getLong(2), rs.getString(3), images[0], images[1]));
                        }
                    }
                }
            }
            wc.commit();
            return out;
        } catch (SQLException | RuntimeException e) {
            wc.rollback();
            throw e;
        } finally {
            wc.setAutoCommit(auto);
        }
    }

    /** The rows of {@code keys} on one node as the capture trigger queues them; keys without a row are absent. */
    static Map<String, String> images(Connection c, TableRef t, List<String> keys, boolean lock) throws SQLException {
        Map<String, String> out = new LinkedHashMap<>();
        try (PreparedStatement st = c.prepareStatement("SELECT key, image::text FROM mmsync._row_images(?::regclass, ?::jsonb, ?)")) {
            st.setString(1, t.quoted());
            st.setObject(2, "[" + String.join(",", keys) + "]", Types.OTHER);
            st.setBoolean(3, lock);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    out.put(rs.getString(1), rs.getString(2));
                }
            }
        }
        return out;
    }

    /** The keys among {@code keys} of which the node's queue holds a change its peer has not confirmed. */
    private Set<String> inFlight(Connection c, TableRef t, List<String> keys) throws SQLException {
        Set<String> out = new HashSet<>();
        try (PreparedStatement st = c.prepareStatement("SELECT k FROM mmsync._in_flight_keys(?, ?::regclass, ?::jsonb) k")) {
            st.setString(1, sync);
            st.setString(2, t.quoted());
            st.setObject(3, "[" + String.join(",", keys) + "]", Types.OTHER);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
            }
        }
        return out;
    }

    /** Waits until every change committed on {@code node} before now was applied at its peer. */
    static void waitSynced(Connection c, String sync, String node, Duration wait) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("SELECT mmsync.wait_synced(?, ?::interval)")) {
            st.setString(1, sync);
            st.setString(2, wait.toMillis() + " milliseconds");
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                if (!rs.getBoolean(1)) {
                    throw new SQLException("mmsync: the changes queued on node " + node + " for sync \"" + sync + "\" were not "
                            + "applied at its peer within " + wait.toSeconds() + " s (are both agents running and the sync "
                            + "resumed? see mmsync.status())", "55000");
                }
            }
        }
    }
}
