package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.KeySql;

import java.util.Map;

/**
 * The competitor lookup's SQL over this node's own queue ({@link Resolver}, the re-check of
 * {@link PageEnd}, {@link CompetitorCache}'s fallback) and its parameter, the candidates' keys.
 */
final class CompetitorSql {
    // For each candidate (i), the newest change of the same row in this node's own queue, by
    // either of its images (an update may change the key). The queue is read once per page with
    // each row's keys computed cheaply and kept only where the page has the key; then the newest
    // change per key, joined to the candidates: a page costs one pass over the queue, however full
    // it is (a two-way catch-up has both queues full), and a hot row (changed in many transactions
    // on both nodes) costs one match per queued change of it, hashed, not one per pair of changes.
    // A sync of two nodes asks CompetitorCache first, which reads only what was queued since the
    // last page; this pass is its fallback, and the lookup of three or more nodes.
    static final String COMPETITORS_SQL = competitorsSql(false);
    /**
     * The same for the changes this node committed after the first lookup's snapshot (the second
     * parameter): its re-check after the apply statements, see {@link PageEnd#commit}.
     */
    static final String LATE_COMPETITORS_SQL = competitorsSql(true);

    private static String competitorsSql(boolean late) {
        // the late variant also says, per key, whether every late change of it is an update of its delta
        // columns alone (pure), with the newest one's other columns (nd) and the table's delta columns
        // (dc): LateDelta decides from them whether the race changes a decision. Each queued change is
        // kept under its key, and under its old key where an update moved it, where the page has that
        // key (one pass, no copy of the queue); the newest per key by its greatest id, hashed (issue 15:
        // under two-way TPC-B a branch row matched thousands of queued changes, each twice, sorted per page)
        return "WITH k AS MATERIALIZED (SELECT * FROM pg_catalog.jsonb_to_recordset(?::jsonb) "
            + "  AS k(i int, s text, t text, key text)), "
            + "tabs AS MATERIALIZED (SELECT st.relid, st.pk_cols, st.schema_name::text AS s, st.table_name::text AS t "
            + (late ? ", " + LateDelta.DELTA_COLUMNS_SQL + " AS dc " : "")
            + "  FROM mmsync.sync_tables st WHERE st.mode = 'keyed' "
            + "  AND (st.schema_name::text, st.table_name::text) IN (SELECT k.s, k.t FROM k)), "
            + "keys AS MATERIALIZED (SELECT DISTINCT k.s, k.t, k.key FROM k), "
            + "y AS MATERIALIZED (SELECT tabs.s, tabs.t, kk.key, c.id, c.op, c.at"
            + (late ? ", " + LateDelta.PURE_SQL + " AS pure, c.new - tabs.dc AS nd, tabs.dc" : "")
            + " FROM mmsync.changes c JOIN tabs ON tabs.relid = c.relid "
            + "CROSS JOIN LATERAL (SELECT " + KeySql.of("tabs.pk_cols", "coalesce(c.new, c.old)") + " AS kn, "
            + "  CASE WHEN c.op = 'U' THEN " + KeySql.of("tabs.pk_cols", "c.old") + " END AS ko) AS kx "
            + "CROSS JOIN LATERAL (VALUES (kx.kn), (CASE WHEN kx.ko IS DISTINCT FROM kx.kn THEN kx.ko END)) AS kk(key) "
            + "WHERE c.op <> 'T'" + (late ? " AND NOT pg_catalog.pg_visible_in_snapshot(c.xid, ?::pg_snapshot)" : "")
            + " AND (tabs.s, tabs.t, kk.key) IN (SELECT * FROM keys)), "
            + "g AS (SELECT y.s, y.t, y.key, pg_catalog.max(y.id) AS id, "
            + "  pg_catalog.max(y.at) FILTER (WHERE y.op = 'I') AS ins_at"
            + (late ? ", pg_catalog.bool_and(y.pure) AS pure" : "") + " FROM y GROUP BY y.s, y.t, y.key), "
            + "newest AS (SELECT g.s, g.t, g.key, g.id, y.op, y.at, g.ins_at" + (late ? ", g.pure, y.nd, y.dc" : "")
            + " FROM g JOIN y ON y.s = g.s AND y.t = g.t AND y.key = g.key AND y.id = g.id) "
            + "SELECT k.i, newest.op, newest.at, newest.id, newest.ins_at"
            + (late ? ", newest.pure, newest.nd, newest.dc" : "") + " FROM k "
            + "JOIN newest ON newest.s = k.s AND newest.t = k.t AND newest.key = k.key";
    }

    /** The candidates as a JSON array of {i, s, t, key} (written by hand: see {@link JsonText}). */
    static String keys(Map<Integer, Change> candidates) {
        StringBuilder sb = new StringBuilder(32 + 48 * candidates.size()).append('[');
        for (Map.Entry<Integer, Change> e : candidates.entrySet()) {
            Change c = e.getValue();
            sb.append(sb.length() > 1 ? ",{\"i\":" : "{\"i\":").append(e.getKey().intValue()).append(",\"s\":");
            JsonText.string(sb, c.table().schema()).append(",\"t\":");
            JsonText.string(sb, c.table().name()).append(",\"key\":");
            JsonText.string(sb, c.key()).append('}');
        }
        return sb.append(']').toString();
    }

    private CompetitorSql() {
    }
}
