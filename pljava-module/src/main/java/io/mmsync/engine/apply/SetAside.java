package io.mmsync.engine.apply;

import io.mmsync.engine.error.ErrorPolicy;
import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.ConflictStrategy;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;

/**
 * Changes the peer cannot apply (a unique key other than the primary key, a foreign key, a value
 * its column cannot hold, a missing table or column) are set aside in the peer's
 * mmsync.set_aside with their error, in the apply transaction, so every other change keeps
 * flowing. {@link #retry} applies them again, oldest first, until their cause is gone.
 */
final class SetAside {
    private static final String INSERT_SQL = "INSERT INTO mmsync.set_aside AS a (sync_name, origin, origin_change, "
            + "schema_name, table_name, op, key, old, new, changed_at, error, sqlstate) "
            + "VALUES (?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?::jsonb, ?, ?, ?) ON CONFLICT (origin, origin_change) DO UPDATE "
            + "SET error = EXCLUDED.error, sqlstate = EXCLUDED.sqlstate, attempts = a.attempts + 1, "
            + "last_tried_at = pg_catalog.clock_timestamp()";
    private static final String PENDING_SQL = "SELECT a.origin_change, a.schema_name, a.table_name, a.op, a.key, "
            + "a.old::text, a.new::text, a.changed_at, (t.mode = 'insert_only') FROM mmsync.set_aside a "
            + "LEFT JOIN mmsync.sync_tables t ON t.schema_name = a.schema_name AND t.table_name = a.table_name "
            + "WHERE a.sync_name = ? AND a.origin = ? AND a.origin_change IS NOT NULL ORDER BY a.origin_change LIMIT 200";

    private static final String SUPERSEDE_SQL = "DELETE FROM mmsync.set_aside a USING "
            + "pg_catalog.jsonb_to_recordset(?::jsonb) AS k(s text, t text, key text, id bigint) "
            + "WHERE a.origin = ? AND a.schema_name = k.s AND a.table_name = k.t AND a.key = k.key "
            + "AND a.origin_change < k.id";

    private SetAside() {
    }

    /**
     * Drops set-aside changes of rows that a later change from the same origin has now replaced
     * (it carries the row's whole new state), so a retry never brings back an older version.
     */
    static void supersede(Connection peer, String origin, List<Change> applied) throws SQLException {
        com.google.gson.JsonArray keys = new com.google.gson.JsonArray();
        for (Change c : applied) {
            com.google.gson.JsonObject k = new com.google.gson.JsonObject();
            k.addProperty("s", c.table().schema());
            k.addProperty("t", c.table().name());
            k.addProperty("key", c.key());
            k.addProperty("id", c.id().asLong());
            keys.add(k);
        }
        try (PreparedStatement st = peer.prepareStatement(SUPERSEDE_SQL)) {
            st.setObject(1, keys.toString(), Types.OTHER);
            st.setString(2, origin);
            st.executeUpdate();
        }
    }

    static void record(Connection peer, String sync, String origin, Change c, SQLException error) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement(INSERT_SQL)) {
            st.setString(1, sync);
            st.setString(2, origin);
            st.setLong(3, c.id().asLong());
            st.setString(4, c.table().schema());
            st.setString(5, c.table().name());
            st.setString(6, String.valueOf(c.op().code()));
            st.setString(7, c.key());
            st.setObject(8, c.oldRow(), Types.OTHER);
            st.setObject(9, c.newRow(), Types.OTHER);
            st.setTimestamp(10, c.at() == null ? null : Timestamp.from(c.at()));
            st.setString(11, ErrorPolicy.describe(error));
            st.setString(12, error.getSQLState());
            st.executeUpdate();
        }
    }

    /**
     * Marks the transaction as applying {@code origin}'s changes; returns whether the peer holds
     * set-aside changes of that origin (one round trip for both).
     */
    static boolean markOrigin(Connection peer, String origin) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement("SELECT pg_catalog.set_config('mmsync.origin', ?, true), "
                + "EXISTS (SELECT 1 FROM mmsync.set_aside WHERE origin = ? AND origin_change IS NOT NULL)")) {
            st.setString(1, origin);
            st.setString(2, origin);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                return rs.getBoolean(2);
            }
        }
    }

    /**
     * Decides a set-aside change again before it is retried (syncs of three or more nodes: against
     * its row's version, as a page's change is; docs/conflicts.md "Three or more nodes").
     */
    interface Decider {
        Action decide(Change c) throws SQLException;
    }

    /**
     * Tries the set-aside changes of one origin again; returns how many now applied or were
     * decided. With a {@code decider} (null: every change applies), a change that lost to its
     * row's version is not applied (or adds its deltas only), and leaves set_aside as decided.
     */
    static int retry(Connection peer, String sync, ConflictStrategy strategy, String origin, RunExecutor executor,
                     Decider decider) throws SQLException {
        List<Change> pending = new ArrayList<>();
        try (PreparedStatement st = peer.prepareStatement(PENDING_SQL)) {
            st.setString(1, sync);
            st.setString(2, origin);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    Timestamp at = rs.getTimestamp(8);
                    Op op = Op.fromCode(rs.getString(4));
                    pending.add(new Change(ChangeId.valueOf(rs.getLong(1)), new TableRef(rs.getString(2), rs.getString(3)),
                            op, at == null ? null : at.toInstant(), rs.getString(5),
                            op == Op.UPDATE ? rs.getString(5) : null, rs.getString(6), rs.getString(7), rs.getBoolean(9)));
                }
            }
        }
        if (pending.isEmpty()) {
            return 0;
        }
        int done = 0;
        executor.missing.clear();
        peer.setAutoCommit(false);
        try {
            markOrigin(peer, origin);
            for (Change c : pending) {
                Savepoint sp = peer.setSavepoint();
                int found = executor.missing.size();
                try {
                    Action a = decider == null ? Action.APPLY : decider.decide(c);
                    if (a == Action.APPLY || a == Action.DELTA_ONLY) {
                        executor.execute(peer, Run.of(a, c));
                    }
                    try (PreparedStatement del = peer.prepareStatement(
                            "DELETE FROM mmsync.set_aside WHERE origin = ? AND origin_change = ?")) {
                        del.setString(1, origin);
                        del.setLong(2, c.id().asLong());
                        del.executeUpdate();
                    }
                    peer.releaseSavepoint(sp);
                    done++;
                } catch (SQLException e) {
                    if (!ErrorPolicy.isDataError(e)) {
                        throw e;
                    }
                    peer.rollback(sp);
                    executor.missing.keep(found);
                    record(peer, sync, origin, c, e);
                }
            }
            // a retried update or delete whose row is gone here is logged as a page's would be (MissingRows)
            ConflictLog.write(peer, executor.missing.entries(sync, strategy, origin), List.of());
            peer.commit();
        } catch (SQLException | RuntimeException e) {
            peer.rollback();
            throw e;
        } finally {
            peer.setAutoCommit(true);
        }
        return done;
    }
}
