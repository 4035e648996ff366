package io.mmsync.engine.apply;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.KeySql;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.SyncState;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Changes of tables with delta columns in a sync of three or more nodes, decided by
 * {@link DeltaRule} from each row's log: this node's queued changes of the key and the changes it
 * received from the other nodes ({@code mmsync.row_deltas}, written here in the apply transaction
 * for every such change, applied or not, and purged with the row versions). Two-node syncs and
 * tables without delta columns never come here.
 */
final class ManyDelta {
    private static final String LOG_SQL = "WITH k AS MATERIALIZED (SELECT DISTINCT k.s, k.t, k.key "
            + "  FROM pg_catalog.jsonb_to_recordset(?::jsonb) AS k(s text, t text, key text)), "
            + "tabs AS MATERIALIZED (SELECT st.relid, st.pk_cols, st.schema_name::text AS s, st.table_name::text AS t "
            + "  FROM mmsync.sync_tables st WHERE (st.schema_name::text, st.table_name::text) IN (SELECT k.s, k.t FROM k)), "
            + "x AS MATERIALIZED (SELECT tabs.s, tabs.t, c.id, c.op::text AS op, c.at, c.old, c.new, "
            + KeySql.of("tabs.pk_cols", "coalesce(c.new, c.old)") + " AS kn, "
            + "  CASE WHEN c.op = 'U' THEN " + KeySql.of("tabs.pk_cols", "c.old") + " END AS ko "
            + "  FROM mmsync.changes c JOIN tabs ON tabs.relid = c.relid WHERE c.op <> 'T') "
            // this node's changes; a key move is a delete of its old key and an insert of its new one
            + "SELECT x.s, x.t, x.kn, CASE WHEN x.ko <> x.kn THEN 'I' ELSE x.op END, x.at, ?, x.id, "
            + "  CASE WHEN x.ko <> x.kn THEN NULL ELSE x.old::text END, x.new::text "
            + "FROM x WHERE (x.s, x.t, x.kn) IN (SELECT * FROM k) "
            + "UNION ALL SELECT x.s, x.t, x.ko, 'D', x.at, ?, x.id, x.old::text, NULL "
            + "FROM x WHERE x.ko <> x.kn AND (x.s, x.t, x.ko) IN (SELECT * FROM k) "
            + "UNION ALL SELECT k.s, k.t, k.key, d.op::text, d.at, d.origin, d.change_id, d.old::text, d.new::text "
            + "FROM k JOIN tabs ON tabs.s = k.s AND tabs.t = k.t "
            + "JOIN mmsync.row_deltas d ON d.relid = tabs.relid AND d.key = k.key";

    private static final String RECORD_SQL = "INSERT INTO mmsync.row_deltas (relid, key, origin, change_id, op, at, old, new) "
            + "SELECT st.relid, k.key, ?, k.id, k.op::\"char\", k.at, k.old, k.new "
            + "FROM pg_catalog.jsonb_to_recordset(?::jsonb) "
            + "AS k(s text, t text, key text, id bigint, op text, at timestamptz, old jsonb, new jsonb) "
            + "JOIN mmsync.sync_tables st ON st.schema_name::text = k.s AND st.table_name::text = k.t "
            + "ON CONFLICT DO NOTHING";

    /** Re-check index of the new key of the candidate with index i (a key move): MOVED_KEYS + i. */
    private static final int MOVED_KEYS = 1 << 24;

    private ManyDelta() {
    }

    /** The changes that come here: a sync of three or more nodes, a table with delta columns. */
    static Map<Integer, Change> select(Map<Integer, Change> candidates, PeerTables tables) throws SQLException {
        Map<Integer, Change> out = new LinkedHashMap<>();
        for (Map.Entry<Integer, Change> e : candidates.entrySet()) {
            Change c = e.getValue();
            if (!tables.get(c).hasDelta()) {
                continue;
            }
            out.put(e.getKey(), c);
        }
        return out;
    }

    /**
     * Decides the changes (after the page's key and row locks): the actions, rewritten inserts and
     * conflicts into {@code out}; their log entries are written by {@link #record} once applied.
     */
    static void resolve(Connection peer, SyncState sync, String origin, String here, Map<Integer, Change> changes,
                        PeerTables tables, Resolver.Outcome out) throws SQLException {
        if (changes.isEmpty()) {
            return;
        }
        // a key move is a delete of its old key and an insert of its new one, at the same version
        Map<Integer, Change> parts = new LinkedHashMap<>();
        Map<Change, Change> partOf = new HashMap<>();
        Map<Integer, Change> checked = new LinkedHashMap<>(changes); // by candidate index, for the re-check
        int next = 0;
        for (Map.Entry<Integer, Change> e : changes.entrySet()) {
            Change c = e.getValue();
            if (c.movesKey()) {
                Change d = new Change(c.id(), c.table(), Op.DELETE, c.at(), c.key(), null, c.oldRow(), null);
                Change i = new Change(c.id(), c.table(), Op.INSERT, c.at(), c.newKey(), null, null, c.newRow());
                parts.put(next++, d);
                parts.put(next++, i);
                partOf.put(d, c);
                partOf.put(i, c);
                // the new key is re-checked too (a local insert of it racing the apply)
                checked.put(MOVED_KEYS + e.getKey(), i);
                if (out.recheck != null) {
                    out.recheck.put(MOVED_KEYS + e.getKey(), i);
                }
            } else {
                parts.put(next++, c);
            }
        }
        Map<String, List<DeltaRule.Entry>> logs = logs(peer, here, parts.values(), out, checked);
        Map<String, String> rows = currentRows(peer, parts, tables);
        Map<String, Boolean> hereNow = new HashMap<>();
        for (Map.Entry<Integer, Change> e : parts.entrySet()) {
            Change c = e.getValue();
            Change whole = partOf.get(c);
            if (whole != null) {
                out.expanded.computeIfAbsent(whole, w -> new ArrayList<>()).add(c);
                out.actions.put(whole, Action.SKIP);
            }
            String id = id(c.table(), c.key());
            List<DeltaRule.Entry> log = logs.computeIfAbsent(id, k -> new ArrayList<>());
            boolean present = hereNow.getOrDefault(id, rows.containsKey(id));
            DeltaRule.Entry in = entry(c, origin);
            DeltaRule.Result r = DeltaRule.decide(log, present, in, tables.get(c).deltaColumns);
            DeltaRule.Entry newest = newest(log);
            log.add(in);
            hereNow.put(id, r.hereAfter());
            out.deltaLogged.add(c);
            switch (r.kind()) {
                case APPLY, DELETE -> out.actions.put(c, Action.APPLY);
                case DELTA_ONLY -> {
                    out.actions.put(c, Action.DELTA_ONLY);
                    conflict(out, sync, origin, c, newest, Resolution.MERGED, rows.get(id), c.newRow());
                }
                case WRITE -> {
                    out.actions.put(c, Action.APPLY);
                    out.rebased.put(c, new Change(c.id(), c.table(), Op.INSERT, c.at(), c.key(), null, null, r.row()));
                    if (present) {
                        conflict(out, sync, origin, c, newest, Resolution.REMOTE_APPLIED, r.row(), rows.get(id));
                    }
                }
                default -> {
                    out.actions.put(c, Action.SKIP);
                    if (c.op() != Op.DELETE && newest != null) {
                        conflict(out, sync, origin, c, newest, Resolution.LOCAL_KEPT, rows.get(id),
                                c.newRow());
                    }
                }
            }
        }
    }

    /** Writes the log entries of the changes decided here (those that were not set aside). */
    static void record(Connection peer, String origin, List<Change> changes) throws SQLException {
        if (changes.isEmpty()) {
            return;
        }
        JsonArray rows = new JsonArray();
        for (Change c : changes) {
            JsonObject o = new JsonObject();
            o.addProperty("s", c.table().schema());
            o.addProperty("t", c.table().name());
            o.addProperty("key", c.key());
            o.addProperty("id", c.id().asLong());
            o.addProperty("op", c.op().code());
            o.addProperty("at", c.at().toString());
            if (c.oldRow() != null) {
                o.add("old", JsonParser.parseString(c.oldRow()));
            }
            if (c.newRow() != null) {
                o.add("new", JsonParser.parseString(c.newRow()));
            }
            rows.add(o);
        }
        try (PreparedStatement st = peer.prepareStatement(RECORD_SQL)) {
            st.setString(1, origin);
            st.setObject(2, rows.toString(), Types.OTHER);
            st.executeUpdate();
        }
    }

    private static DeltaRule.Entry entry(Change c, String origin) {
        if (c.at() == null) {
            throw new IllegalStateException("change " + c.id() + " from " + origin + " has no time");
        }
        return new DeltaRule.Entry(c.op(), new DeltaRule.Version(c.at(), origin, c.id().asLong()), c.oldRow(), c.newRow());
    }

    private static DeltaRule.Entry newest(List<DeltaRule.Entry> log) {
        DeltaRule.Entry n = null;
        for (DeltaRule.Entry e : log) {
            if (n == null || e.version().newerThan(n.version())) {
                n = e;
            }
        }
        return n;
    }

    private static void conflict(Resolver.Outcome out, SyncState sync, String origin, Change c, DeltaRule.Entry newest,
                                 Resolution r, String winning, String losing) {
        String kind = c.op().name().toLowerCase() + "_" + (newest == null ? "none" : newest.op().name().toLowerCase());
        out.conflicts.add(new ConflictLog.Entry(sync.name, c, kind, sync.conflict, r, origin, c.at(),
                newest == null ? null : newest.version().at(), winning, losing));
    }

    private static String id(TableRef t, String key) {
        return t.schema() + "\u0000" + t.name() + "\u0000" + key;
    }

    /** Each key's log; records per candidate the newest of this node's own changes seen (for the re-check). */
    private static Map<String, List<DeltaRule.Entry>> logs(Connection peer, String here, java.util.Collection<Change> changes,
                                                          Resolver.Outcome out, Map<Integer, Change> byIndex)
            throws SQLException {
        JsonArray keys = new JsonArray();
        for (Change c : changes) {
            JsonObject k = new JsonObject();
            k.addProperty("s", c.table().schema());
            k.addProperty("t", c.table().name());
            k.addProperty("key", c.key());
            keys.add(k);
        }
        Map<String, List<DeltaRule.Entry>> logs = new HashMap<>();
        Map<String, Long> ownNewest = new HashMap<>();
        try (PreparedStatement st = peer.prepareStatement(LOG_SQL)) {
            st.setObject(1, keys.toString(), Types.OTHER);
            st.setString(2, here);
            st.setString(3, here);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    String id = id(new TableRef(rs.getString(1), rs.getString(2)), rs.getString(3));
                    String node = rs.getString(6);
                    long changeId = rs.getLong(7);
                    logs.computeIfAbsent(id, k -> new ArrayList<>()).add(new DeltaRule.Entry(Op.fromCode(rs.getString(4)),
                            new DeltaRule.Version(rs.getTimestamp(5).toInstant(), node, changeId),
                            rs.getString(8), rs.getString(9)));
                    if (here.equals(node)) {
                        ownNewest.merge(id, changeId, Math::max);
                    }
                }
            }
        }
        for (Map.Entry<Integer, Change> e : byIndex.entrySet()) {
            Long own = ownNewest.get(id(e.getValue().table(), e.getValue().key()));
            if (own != null) {
                out.competitorIds.put(e.getKey(), own);
            }
        }
        return logs;
    }

    /** The rows here of the changes' keys, as jsonb text, by table and key. */
    private static Map<String, String> currentRows(Connection peer, Map<Integer, Change> changes, PeerTables tables)
            throws SQLException {
        Map<TableRef, List<Change>> byTable = new LinkedHashMap<>();
        for (Change c : changes.values()) {
            byTable.computeIfAbsent(c.table(), t -> new ArrayList<>()).add(c);
        }
        Map<String, String> out = new HashMap<>();
        for (Map.Entry<TableRef, List<Change>> e : byTable.entrySet()) {
            List<Change> list = e.getValue();
            StringBuilder arr = new StringBuilder("[");
            for (int j = 0; j < list.size(); j++) {
                arr.append(j > 0 ? "," : "").append(list.get(j).keyRow());
            }
            arr.append(']');
            try (PreparedStatement st = peer.prepareStatement(tables.get(list.get(0)).currentRowsSql())) {
                st.setObject(1, arr.toString(), Types.OTHER);
                try (ResultSet rs = st.executeQuery()) {
                    while (rs.next()) {
                        Change c = list.get(rs.getInt(1) - 1);
                        out.put(id(c.table(), c.key()), rs.getString(2));
                    }
                }
            }
        }
        return out;
    }
}
