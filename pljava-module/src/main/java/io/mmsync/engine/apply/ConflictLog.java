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
 * was most of its commit phase).
 */
final class ConflictLog {
    private static final String INSERT_SQL = "INSERT INTO mmsync.conflicts (sync_name, schema_name, table_name, key, "
            + "kind, strategy, resolution, origin, origin_change, remote_at, local_at, winning_row, losing_row) "
            + "SELECT e.v ->> 'sy', e.v ->> 's', e.v ->> 't', e.v ->> 'k', e.v ->> 'kd', e.v ->> 'st', e.v ->> 'r', "
            + "e.v ->> 'o', (e.v ->> 'c')::bigint, (e.v ->> 'ra')::timestamptz, (e.v ->> 'la')::timestamptz, "
            + "(e.v -> 'w')::jsonb, (e.v -> 'l')::jsonb "
            + "FROM pg_catalog.json_array_elements(?::json) WITH ORDINALITY AS e(v, i) ORDER BY e.i";
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
            try (PreparedStatement st = peer.prepareStatement(INSERT_SQL)) {
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
