package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.KeySql;
import io.mmsync.engine.model.QueueIdSamples;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * This node's newest queued change of each row (and its newest insert), kept between pages so that
 * a page's competitor lookup reads only the changes committed since the last lookup, not the whole
 * queue (issue 15: under two-way TPC-B the queue held 10,000-25,000 changes and each page's pass
 * over it took a hundred milliseconds and more; a page's keys cannot be looked up by index, the
 * queue has none on the key, and one would cost every captured write). A sync of two nodes only
 * (three or more decide against {@link RowVersions} as well; they keep the pass).
 *
 * <p>What it holds, per table and key (a change is kept under its key, and under its old key
 * where an update moved it, as {@link Resolver}'s lookup matches them): the greatest id with its
 * op and time, and of the inserts the greatest time with the id that has it and the greatest id.
 * It covers exactly the changes visible in {@link #snapshot}, the snapshot of the statement that
 * last read the queue. Each lookup is one statement that (1) reads the changes visible to it and
 * not in {@link #snapshot}, from an id on that {@link QueueIdSamples#below} proves no such change lies under
 * (the queue's index; the argument of send.RangeFloor, with samples taken at the start of the apply
 * transactions, {@link #SAMPLE_SQL}), (2) says which of the ids the page's cached entries name
 * are still in the queue, and (3) returns its own snapshot. Changes leave the queue (purge,
 * truncation, a dropped sync) oldest first for a row: a later change of a row waits for the
 * earlier one's row lock or key, so it commits after it and takes a higher id; so where an entry's
 * newest change is gone, every change of that key is, and where its newest insert is gone, every
 * insert is. What that does not settle (the insert with the greatest time gone but a later-id one
 * left: a clock that went back), and a change of the synced tables' keys, drop the cache and the
 * page takes the pass ({@code null} from {@link #lookup}).
 */
final class CompetitorCache {
    /** entries beyond which the cache is dropped and built again from the queue (about 250 bytes each) */
    static final int MAX_ENTRIES = 50_000;
    private static final int MAX_SAMPLES = 512;
    /** pages that take the pass after a build found more than MAX_ENTRIES keys */
    private static final int BACK_OFF_PAGES = 200;

    /**
     * The last queue id handed out, then (only while the apply transaction has no transaction id
     * yet) a new transaction id for it: every change of a transaction with a greater id has a greater
     * queue id (see send.RangeFloor). NULL id: no sample.
     */
    static final String SAMPLE_SQL = "WITH l AS MATERIALIZED (SELECT pg_catalog.pg_sequence_last_value("
            + "'mmsync.change_queue_id_seq'::pg_catalog.regclass) AS last_value, "
            + "pg_catalog.pg_current_xact_id_if_assigned() IS NULL AS fresh) "
            + "SELECT l.last_value, CASE WHEN l.fresh AND l.last_value IS NOT NULL THEN pg_catalog.pg_current_xact_id()::text END FROM l";

    // kind 0: per key its newest change and newest insert among the changes read; 1: the ids still
    // queued of those asked for; 2: the statement's snapshot and the keyed tables' fingerprint
    static final String READ_SQL = "WITH tabs AS MATERIALIZED (SELECT st.relid, st.pk_cols, st.schema_name::text AS s, "
            + "  st.table_name::text AS t FROM mmsync.sync_tables st WHERE st.mode = 'keyed'), "
            + "syncs AS MATERIALIZED (SELECT pg_catalog.array_agg(sy.id) AS ids FROM mmsync.syncs sy), "
            + "y AS MATERIALIZED (SELECT tabs.s, tabs.t, kk.key, c.id, c.op, c.at FROM mmsync.changes c JOIN tabs ON tabs.relid = c.relid "
            + "CROSS JOIN LATERAL (SELECT " + KeySql.of("tabs.pk_cols", "coalesce(c.new, c.old)") + " AS kn, "
            + "  CASE WHEN c.op = 'U' THEN " + KeySql.of("tabs.pk_cols", "c.old") + " END AS ko) AS kx "
            + "CROSS JOIN LATERAL (VALUES (kx.kn), (CASE WHEN kx.ko IS DISTINCT FROM kx.kn THEN kx.ko END)) AS kk(key) "
            + "WHERE c.sync_id = ANY ((SELECT syncs.ids FROM syncs)::integer[]) AND c.id > ? AND c.op <> 'T' "
            + "  AND (?::pg_snapshot IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(c.xid, ?::pg_snapshot)) "
            + "  AND c.xid IS DISTINCT FROM pg_catalog.pg_current_xact_id_if_assigned() AND kk.key IS NOT NULL), "
            + "g AS (SELECT y.s, y.t, y.key, pg_catalog.max(y.id) AS id, pg_catalog.max(y.at) FILTER (WHERE y.op = 'I') AS ins_at, "
            + "  (pg_catalog.array_agg(y.id ORDER BY y.at DESC, y.id DESC) FILTER (WHERE y.op = 'I'))[1] AS ins_at_id, "
            + "  pg_catalog.max(y.id) FILTER (WHERE y.op = 'I') AS ins_id FROM y GROUP BY y.s, y.t, y.key) "
            + "SELECT 0 AS kind, g.s, g.t, g.key, g.id, y.op::text, y.at, g.ins_at, g.ins_at_id, g.ins_id "
            + "FROM g JOIN y ON y.s = g.s AND y.t = g.t AND y.key = g.key AND y.id = g.id "
            + "UNION ALL SELECT 1, NULL, NULL, NULL, v.id, NULL, NULL, NULL, NULL, NULL FROM pg_catalog.unnest(?::bigint[]) AS v(id) "
            + "CROSS JOIN LATERAL (SELECT 1 FROM mmsync.changes c WHERE c.sync_id = ANY ((SELECT syncs.ids FROM syncs)::integer[]) "
            + "  AND c.id = v.id LIMIT 1) AS there "
            + "UNION ALL SELECT 2, pg_catalog.pg_current_snapshot()::text, "
            + "(SELECT pg_catalog.string_agg(tabs.relid::text || ' ' || tabs.s || '.' || tabs.t || ' ' || tabs.pk_cols::text, ',' "
            + "  ORDER BY tabs.relid, tabs.s, tabs.t, tabs.pk_cols::text) FROM tabs), NULL, NULL, NULL, NULL, NULL, NULL, NULL";

    /** The newest change of a key (id, op, time) and of its inserts (greatest time, its id, greatest id; 0/null: none). */
    private static final class Entry {
        long id;
        String op;
        Timestamp at;
        Timestamp insAt;
        long insAtId;
        long insId;
    }

    /** One competitor as {@link Resolver} reads it: candidate index, op, time, id, newest insert's time. */
    record Found(int i, String op, Timestamp at, long id, Timestamp insAt) {
    }

    private final Map<String, Entry> entries = new HashMap<>();
    private final QueueIdSamples samples = new QueueIdSamples(MAX_SAMPLES);
    private String snapshot;
    private String fingerprint;
    private int backOff;
    private boolean used;
    /** what the last lookup cost: changes read (keys), whether it built the cache anew */
    int lastRead;
    boolean lastBuilt;
    /** the queue id the last lookup read from (0: the queue's floor) */
    long lastFrom;

    /**
     * Forgets the entries (entries it cannot settle, an error); the samples stay, they hold for the
     * database whatever the cache holds.
     */
    void clear() {
        entries.clear();
        snapshot = null;
        fingerprint = null;
    }

    /** Forgets the samples too (a new connection: the extension may have been created again, its ids with it). */
    void reset() {
        clear();
        samples.clear();
        used = false;
    }

    /** Whether the apply transaction should take a sample at its start ({@link #SAMPLE_SQL}): once the cache was asked. */
    boolean wantsSample() {
        return used;
    }

    /** Takes the result of {@link #SAMPLE_SQL}. */
    void sampled(ResultSet rs) throws SQLException {
        if (rs.next()) {
            long last = rs.getLong(1);
            String xid = rs.getString(2);
            if (!rs.wasNull() && xid != null) {
                samples.add(Long.parseLong(xid), last);
            }
        }
    }

    /**
     * The competitors of {@code candidates} (the newest queued change of each one's key), as the
     * pass over the queue ({@link Resolver}) finds them; {@code null} when the cache cannot say
     * and the page must take the pass.
     */
    List<Found> lookup(Connection peer, Map<Integer, Change> candidates) throws SQLException {
        used = true;
        if (backOff > 0) {
            backOff--;
            return null;
        }
        boolean build = snapshot == null;
        List<Long> ask = new ArrayList<>();
        if (!build) {
            for (Change c : candidates.values()) {
                Entry e = entries.get(name(c.table().schema(), c.table().name(), c.key()));
                if (e != null) {
                    ask.add(e.id);
                    if (e.insAtId != 0) {
                        ask.add(e.insAtId);
                        ask.add(e.insId);
                    }
                }
            }
        }
        long from = build ? 0 : samples.below(snapshot);
        List<Object[]> read = new ArrayList<>();
        Set<Long> present = new HashSet<>();
        String snap = null;
        String fp = null;
        try (PreparedStatement st = peer.prepareStatement(READ_SQL)) {
            st.setLong(1, from);
            st.setString(2, snapshot);
            st.setString(3, snapshot);
            st.setArray(4, peer.createArrayOf("bigint", ask.toArray()));
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    int kind = rs.getInt(1);
                    if (kind == 0) {
                        read.add(new Object[] {name(rs.getString(2), rs.getString(3), rs.getString(4)), rs.getLong(5),
                            rs.getString(6), rs.getTimestamp(7), rs.getTimestamp(8), rs.getLong(9), rs.getLong(10)});
                    } else if (kind == 1) {
                        present.add(rs.getLong(5));
                    } else {
                        snap = rs.getString(2);
                        fp = rs.getString(3);
                    }
                }
            }
        }
        lastRead = read.size();
        lastBuilt = build;
        lastFrom = from;
        if (build) {
            entries.clear();
            fingerprint = fp;
        } else if (!java.util.Objects.equals(fp, fingerprint) || !settle(candidates, present)) {
            clear();
            return null;
        }
        for (Object[] r : read) {
            merge(r);
        }
        snapshot = snap;
        List<Found> out = new ArrayList<>();
        for (Map.Entry<Integer, Change> c : candidates.entrySet()) {
            Change ch = c.getValue();
            Entry e = entries.get(name(ch.table().schema(), ch.table().name(), ch.key()));
            if (e != null) {
                out.add(new Found(c.getKey(), e.op, e.at, e.id, e.insAt));
            }
        }
        if (entries.size() > MAX_ENTRIES) {
            clear();
            backOff = build ? BACK_OFF_PAGES : 0;
        }
        return out;
    }

    /**
     * Drops what left the queue from the candidates' entries: false when that cannot be told
     * (the insert with the greatest time gone while a later one stays).
     */
    private boolean settle(Map<Integer, Change> candidates, Set<Long> present) {
        for (Change c : candidates.values()) {
            String k = name(c.table().schema(), c.table().name(), c.key());
            Entry e = entries.get(k);
            if (e == null) {
                continue;
            }
            if (!present.contains(e.id)) {
                entries.remove(k); // its newest change is gone, so every change of it is
            } else if (e.insAtId != 0 && !present.contains(e.insAtId)) {
                if (present.contains(e.insId)) {
                    return false;
                }
                e.insAt = null; // its newest insert is gone, so every insert of it is
                e.insAtId = 0;
                e.insId = 0;
            }
        }
        return true;
    }

    private void merge(Object[] r) {
        Entry e = entries.computeIfAbsent((String) r[0], k -> new Entry());
        long id = (Long) r[1];
        if (id > e.id) {
            e.id = id;
            e.op = (String) r[2];
            e.at = (Timestamp) r[3];
        }
        Timestamp insAt = (Timestamp) r[4];
        if (insAt != null) {
            long insAtId = (Long) r[5];
            if (e.insAt == null || insAt.after(e.insAt) || (insAt.equals(e.insAt) && insAtId > e.insAtId)) {
                e.insAt = insAt;
                e.insAtId = insAtId;
            }
            e.insId = Math.max(e.insId, (Long) r[6]);
        }
    }

    private static String name(String schema, String table, String key) {
        return schema + '\u0000' + table + '\u0000' + key;
    }

    int size() {
        return entries.size();
    }

    /** For tests: the statement that reads a sample, run on its own. */
    static void sample(Connection c, CompetitorCache cache) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(SAMPLE_SQL)) {
            cache.sampled(rs);
        }
    }
}
