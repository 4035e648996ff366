package io.mmsync.engine.apply;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ConflictStrategy;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes resolved conflicts into the peer's mmsync.conflicts, in the apply transaction, with one
 * statement per page (a page of two-way TPC-B resolves thousands: a batch of single-row inserts
 * was most of its commit phase). A conflict that lost nothing, an update meeting an update of a
 * row whose two versions differ only in delta columns (added up whoever wins), is counted in
 * mmsync.conflict_counts per sync and origin instead of logged (issue 14: two-way TPC-B made a
 * row of mmsync.conflicts per merged delta); every other conflict is still logged, one row each.
 * Those the engine can tell lost nothing are counted here and sent as one count with the commit
 * request ({@link #split}, issue 15); the statement decides the rest as before.
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
    /**
     * Adds the page's conflicts counted in Java ({@link #split}) to mmsync.conflict_counts: a
     * statement of the page's commit request (no rows to log, nothing to wait for).
     */
    static final String ADD_COUNTS_SQL = "INSERT INTO mmsync.conflict_counts AS n (sync_name, origin, merged) "
            + "SELECT e.sy, e.o, e.n FROM pg_catalog.json_to_recordset(?::json) AS e(sy text, o text, n bigint) "
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
            raw(json, name, new JsonPrimitive(value).toString());
        }
    }

    /** Appends {@code "name":value} for a JSON text; nothing for null (SQL NULL). */
    private static void raw(StringBuilder json, String name, String value) {
        if (value != null) {
            json.append(json.charAt(json.length() - 1) == '{' ? "\"" : ",\"").append(name).append("\":").append(value);
        }
    }

    /**
     * A page's conflicts: those {@link #COUNT_SQL} would surely count (left out of its JSON, where
     * they were most of a two-way TPC-B page's rows and its CPU), as {@link #ADD_COUNTS_SQL} with
     * its parameter (null if none), and the rest for {@link #write}, which counts or logs each.
     */
    record Split(List<Entry> rest, RunExecutor.Deferred counts) {
    }

    /**
     * Splits off the conflicts that lost nothing for sure ({@link #lostNothing}): kind update_update,
     * resolved merged or remote_applied, both images, on a table with delta columns here, and every
     * other column of the winning image written as in the losing one. A conflict this cannot tell
     * (a number written two ways, a nested value) goes to {@link #COUNT_SQL}, which decides as before.
     */
    static Split split(List<Entry> entries, PeerTables tables) throws SQLException {
        List<Entry> rest = new ArrayList<>();
        Map<List<String>, Long> counts = new LinkedHashMap<>();
        for (Entry e : entries) {
            TableShape shape = countable(e) ? tables.get(e.change) : null;
            if (shape != null && shape.hasDelta() && lostNothing(e.winningRow, e.losingRow, shape.deltaColumns)) {
                counts.merge(List.of(e.sync, e.origin), 1L, Long::sum);
            } else {
                rest.add(e);
            }
        }
        if (counts.isEmpty()) {
            return new Split(rest, null);
        }
        StringBuilder json = new StringBuilder("[");
        counts.forEach((k, n) -> {
            json.append(json.length() > 1 ? ",{" : "{");
            string(json, "sy", k.get(0));
            string(json, "o", k.get(1));
            raw(json, "n", Long.toString(n));
            json.append('}');
        });
        return new Split(rest, new RunExecutor.Deferred(ADD_COUNTS_SQL, json.append(']').toString()));
    }

    private static boolean countable(Entry e) {
        return "update_update".equals(e.kind) && (e.resolution == Resolution.MERGED || e.resolution == Resolution.REMOTE_APPLIED)
                && e.winningRow != null && e.losingRow != null;
    }

    /**
     * Whether every column of {@code winning} but {@code delta} has the same value in {@code losing},
     * as {@link #COUNT_SQL} compares them (jsonb equality), where that is sure: the same string, the
     * same number written alike, the same boolean, both null. False when unsure (a number written
     * two ways, an object or array, a column missing from {@code losing}): {@link #COUNT_SQL} decides.
     */
    static boolean lostNothing(String winning, String losing, List<String> delta) {
        JsonElement w;
        JsonElement l;
        try {
            w = JsonParser.parseString(winning);
            l = JsonParser.parseString(losing);
        } catch (JsonParseException ex) {
            return false; // not an image Gson reads: COUNT_SQL decides
        }
        if (!w.isJsonObject() || !l.isJsonObject()) {
            return false;
        }
        JsonObject lo = l.getAsJsonObject();
        for (Map.Entry<String, JsonElement> c : w.getAsJsonObject().entrySet()) {
            if (!delta.contains(c.getKey()) && !same(c.getValue(), lo.get(c.getKey()))) {
                return false;
            }
        }
        return true;
    }

    private static boolean same(JsonElement a, JsonElement b) {
        if (a == null || b == null) {
            return false;
        }
        if (a.isJsonNull() || b.isJsonNull()) {
            return a.isJsonNull() && b.isJsonNull();
        }
        if (!a.isJsonPrimitive() || !b.isJsonPrimitive()) {
            return false;
        }
        JsonPrimitive x = a.getAsJsonPrimitive();
        JsonPrimitive y = b.getAsJsonPrimitive();
        if (x.isString() && y.isString()) {
            return x.getAsString().equals(y.getAsString());
        }
        if (x.isBoolean() && y.isBoolean()) {
            return x.getAsBoolean() == y.getAsBoolean();
        }
        // a number: the same text is the same jsonb number (1.0 and 1 are equal there too, but unsure here)
        return x.isNumber() && y.isNumber() && x.getAsNumber().toString().equals(y.getAsNumber().toString());
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
