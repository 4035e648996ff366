package io.mmsync.engine.apply;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.Op;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The versions of rows last written by an apply, for syncs of three or more nodes
 * ({@code mmsync.row_versions}, docs/conflicts.md "Three or more nodes"). A node decides an
 * incoming change against the row's version, the pair (at, node) of the change that wrote it:
 * the newest queued local change of the key, or the entry here when an apply wrote the row later.
 * The greater pair wins (at first, then the node name sorting first), on every node whatever the
 * order in which the others' changes arrive. The applier writes the entry of every change it
 * applies, in the apply transaction; a delete leaves a tombstone. Two appliers of different origins
 * at one node serialise on their keys (transaction advisory locks, taken in one order before the
 * row locks), so each decides against what the other committed.
 */
final class RowVersions {
    /** Advisory lock class of the key locks (1835889521: 'mmsq' + 1, beside the queue's 1835889520). */
    static final int LOCK_CLASS = 1835889521;

    /** Locks the keys named by the parameter (array of {s, t, key}), in one order so appliers cannot deadlock. */
    static final String LOCK_SQL = "SELECT pg_catalog.count(pg_catalog.pg_advisory_xact_lock(" + LOCK_CLASS + ", x.h)) FROM "
            + "(SELECT DISTINCT pg_catalog.hashtext(k.s || '.' || k.t || E'\\x1e' || k.key) AS h "
            + "FROM pg_catalog.jsonb_to_recordset(?::jsonb) AS k(s text, t text, key text) ORDER BY 1) x";

    private static final String LOOKUP_SQL = "SELECT k.i, v.at, v.origin, v.deleted "
            + "FROM pg_catalog.jsonb_to_recordset(?::jsonb) AS k(i int, s text, t text, key text) "
            + "JOIN mmsync.sync_tables st ON st.schema_name::text = k.s AND st.table_name::text = k.t "
            + "JOIN mmsync.row_versions v ON v.relid = st.relid AND v.key = k.key";

    private static final String WRITE_SQL = "INSERT INTO mmsync.row_versions AS v (relid, key, at, origin, deleted) "
            + "SELECT st.relid, k.key, k.at, ?, k.deleted "
            + "FROM pg_catalog.jsonb_to_recordset(?::jsonb) AS k(s text, t text, key text, at timestamptz, deleted boolean) "
            + "JOIN mmsync.sync_tables st ON st.schema_name::text = k.s AND st.table_name::text = k.t "
            + "ON CONFLICT (relid, key) DO UPDATE SET at = EXCLUDED.at, origin = EXCLUDED.origin, "
            + "deleted = EXCLUDED.deleted, xid = pg_catalog.pg_current_xact_id()";

    /** A row's version: the change that wrote it (at, node), and whether it deleted the row. */
    record Version(Instant at, String node, Op op) {
        /** The greater of two versions (see {@link #greater}). */
        Version max(Version other) {
            return other == null || greater(at, node, other.at, other.node) ? this : other;
        }
    }

    /** Whether the pair (a, aNode) is greater than (b, bNode): later, or as late and the name sorting first. */
    static boolean greater(Instant a, String aNode, Instant b, String bNode) {
        int cmp = a.compareTo(b);
        return cmp > 0 || (cmp == 0 && aNode.compareTo(bNode) < 0);
    }

    private RowVersions() {
    }

    /** The keys a page's candidates touch (both keys of a key move), for {@link #LOCK_SQL}. */
    static String lockKeys(Collection<Change> candidates) {
        JsonArray keys = new JsonArray();
        for (Change c : candidates) {
            keys.add(key(c, c.key()));
            if (c.movesKey()) {
                keys.add(key(c, c.newKey()));
            }
        }
        return keys.toString();
    }

    /** For each candidate (by index) that has one, the newest entry of its keys. */
    static Map<Integer, Version> lookup(Connection peer, Map<Integer, Change> candidates) throws SQLException {
        JsonArray keys = new JsonArray();
        for (Map.Entry<Integer, Change> e : candidates.entrySet()) {
            Change c = e.getValue();
            keys.add(indexed(e.getKey(), key(c, c.key())));
            if (c.movesKey()) {
                keys.add(indexed(e.getKey(), key(c, c.newKey())));
            }
        }
        Map<Integer, Version> out = new HashMap<>();
        try (PreparedStatement st = peer.prepareStatement(LOOKUP_SQL)) {
            st.setObject(1, keys.toString(), Types.OTHER);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    Version v = new Version(rs.getTimestamp(2).toInstant(), rs.getString(3),
                            rs.getBoolean(4) ? Op.DELETE : Op.UPDATE);
                    out.merge(rs.getInt(1), v, Version::max);
                }
            }
        }
        return out;
    }

    /**
     * Records the versions of the changes of {@code origin} that were applied: each key's last
     * change of the page (they come in the order they were made), a tombstone for a delete and for
     * the old key of a key move.
     */
    static void write(Connection peer, String origin, List<Change> applied) throws SQLException {
        Map<String, JsonObject> last = new LinkedHashMap<>();
        for (Change c : applied) {
            boolean deletes = c.op() == Op.DELETE;
            put(last, c, c.key(), deletes || c.movesKey());
            if (c.movesKey()) {
                put(last, c, c.newKey(), false);
            }
        }
        if (last.isEmpty()) {
            return;
        }
        JsonArray rows = new JsonArray();
        last.values().forEach(rows::add);
        try (PreparedStatement st = peer.prepareStatement(WRITE_SQL)) {
            st.setString(1, origin);
            st.setObject(2, rows.toString(), Types.OTHER);
            st.executeUpdate();
        }
    }

    private static void put(Map<String, JsonObject> last, Change c, String key, boolean deleted) {
        if (c.at() == null) {
            return; // every queued change has its time; a change without one has no version to record
        }
        JsonObject o = key(c, key);
        o.addProperty("at", c.at().toString());
        o.addProperty("deleted", deleted);
        String id = c.table().schema() + "\u0000" + c.table().name() + "\u0000" + key;
        last.remove(id); // re-inserted last: the order of the rows does not matter, the last change per key does
        last.put(id, o);
    }

    private static JsonObject key(Change c, String key) {
        JsonObject k = new JsonObject();
        k.addProperty("s", c.table().schema());
        k.addProperty("t", c.table().name());
        k.addProperty("key", key);
        return k;
    }

    private static JsonObject indexed(int i, JsonObject key) {
        key.addProperty("i", i);
        return key;
    }
}
