package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ConflictStrategy;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;
import java.util.List;

/**
 * Writes resolved conflicts into the peer's mmsync.conflicts, in the apply transaction, with one
 * statement per page (a page of two-way TPC-B resolves thousands: a batch of single-row inserts
 * was most of its commit phase). A conflict that lost nothing, an update meeting an update of a
 * row whose two versions differ only in delta columns (added up whoever wins), is counted in
 * mmsync.conflict_counts per sync and origin instead of logged (issue 14: two-way TPC-B made a
 * row of mmsync.conflicts per merged delta); every other conflict is still logged, one row each.
 * (The engine refuses a peer whose extension predates mmsync.conflict_counts: ExtensionVersion.)
 */
final class ConflictLog {
    private static final String ELEMENTS = "pg_catalog.json_array_elements(?::json) WITH ORDINALITY AS e(v, i)";
    private static final String INSERT_COLUMNS = "INSERT INTO mmsync.conflicts (sync_name, schema_name, table_name, key, "
            + "kind, strategy, resolution, origin, origin_change, remote_at, local_at, winning_row, losing_row) "
            + "SELECT e.v ->> 'sy', e.v ->> 's', e.v ->> 't', e.v ->> 'k', e.v ->> 'kd', e.v ->> 'st', e.v ->> 'r', "
            + "e.v ->> 'o', (e.v ->> 'c')::bigint, (e.v ->> 'ra')::timestamptz, (e.v ->> 'la')::timestamptz, "
            + "(e.v -> 'w')::jsonb, (e.v -> 'l')::jsonb ";
    private static final String DELTA = "SELECT 1 FROM mmsync.column_policies p WHERE p.schema_name = (e.v ->> 's') "
            + "AND p.table_name = (e.v ->> 't') AND p.policy = 'delta'";
    /** Merged deltas counted, the rest logged. */
    private static final String COUNT_SQL = "WITH e AS MATERIALIZED (SELECT e.v, e.i, "
            + "(e.v ->> 'kd') = 'update_update' AND (e.v ->> 'r') IN ('merged', 'remote_applied') "
            + "AND (e.v -> 'w') IS NOT NULL AND (e.v -> 'l') IS NOT NULL AND EXISTS (" + DELTA + ") "
            + "AND NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_each((e.v -> 'w')::jsonb) w "
            + "  WHERE w.value IS DISTINCT FROM (e.v -> 'l')::jsonb -> w.key AND NOT EXISTS (" + DELTA + " AND p.column_name = w.key)) "
            + "AS counted FROM " + ELEMENTS + "), "
            + "logged AS (" + INSERT_COLUMNS + "FROM e WHERE NOT e.counted ORDER BY e.i) "
            + "INSERT INTO mmsync.conflict_counts AS n (sync_name, origin, merged) "
            + "SELECT e.v ->> 'sy', e.v ->> 'o', count(*) FROM e WHERE e.counted GROUP BY 1, 2 "
            + "ON CONFLICT (sync_name, origin) DO UPDATE SET merged = n.merged + EXCLUDED.merged";
    private static final String DECIDED_SQL = "UPDATE mmsync.conflicts SET resolution = CASE decision "
            + "WHEN 'apply' THEN 'remote_applied' ELSE 'local_kept' END WHERE id = ?";

    /** One conflict as the peer resolved it. */
    static final class Entry {
        final String sync;
        final Change change;
        final String kind;
        final ConflictStrategy strategy;
        final Resolution resolution;
        final String origin;
        final Instant remoteAt;
        final Instant localAt;
        final String winningRow;
        final String losingRow;

        Entry(String sync, Change change, String kind, ConflictStrategy strategy, Resolution resolution, String origin,
              Instant remoteAt, Instant localAt, String winningRow, String losingRow) {
            this.sync = sync;
            this.change = change;
            this.kind = kind;
            this.strategy = strategy;
            this.resolution = resolution;
            this.origin = origin;
            this.remoteAt = remoteAt;
            this.localAt = localAt;
            this.winningRow = winningRow;
            this.losingRow = losingRow;
        }
    }

    private ConflictLog() {
    }

    /** Appends {@code "name":"value"}, the value escaped as a JSON string; nothing for null (SQL NULL). */
    private static void string(StringBuilder json, String name, String value) {
        if (value != null) {
            raw(json, name, new com.google.gson.JsonPrimitive(value).toString());
        }
    }

    /** Appends {@code "name":value} for a JSON text; nothing for null (SQL NULL). */
    private static void raw(StringBuilder json, String name, String value) {
        if (value != null) {
            json.append(json.charAt(json.length() - 1) == '{' ? "\"" : ",\"").append(name).append("\":").append(value);
        }
    }

    static void write(Connection peer, List<Entry> entries, List<Long> decided) throws SQLException {
        if (!entries.isEmpty()) {
            StringBuilder json = new StringBuilder("[");
            for (Entry e : entries) {
                json.append(json.length() > 1 ? ",{" : "{");
                string(json, "sy", e.sync);
                string(json, "s", e.change.table().schema());
                string(json, "t", e.change.table().name());
                string(json, "k", e.change.key().replace('\u001f', ','));
                string(json, "kd", e.kind);
                string(json, "st", e.strategy.sql());
                string(json, "r", e.resolution.sql());
                string(json, "o", e.origin);
                raw(json, "c", Long.toString(e.change.id().asLong()));
                string(json, "ra", e.remoteAt == null ? null : e.remoteAt.toString());
                string(json, "la", e.localAt == null ? null : e.localAt.toString());
                // row images are JSON objects already (jsonb text from the queue or the table)
                raw(json, "w", e.winningRow);
                raw(json, "l", e.losingRow);
                json.append('}');
            }
            try (PreparedStatement st = peer.prepareStatement(COUNT_SQL)) {
                st.setObject(1, json.append(']').toString(), Types.OTHER);
                st.executeUpdate();
            }
        }
        if (!decided.isEmpty()) {
            try (PreparedStatement st = peer.prepareStatement(DECIDED_SQL)) {
                for (Long id : decided) {
                    st.setLong(1, id);
                    st.addBatch();
                }
                st.executeBatch();
            }
        }
    }
}
