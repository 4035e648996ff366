package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The first round trip of a page's apply transaction (one, where it was up to three plus one per
 * table): the row locks, the origin mark ({@link SetAside#markOrigin}) and the question which of
 * the page's tables have changes in the peer's own queue, as one multi-statement request. The
 * statements run in order, each with its own snapshot, so the queue is read after the locks are
 * held, as before.
 */
final class PageBegin {
    // one row at least: the statement's snapshot, whether set-aside changes of the origin wait, the
    // origin mark (referenced, so that it is evaluated), then each table with queued changes
    private static final String MARK_AND_QUEUED_SQL = "SELECT m.snap, q.s, q.t, m.sa, m.o FROM "
            + "(SELECT pg_catalog.pg_current_snapshot()::text AS snap, pg_catalog.set_config('mmsync.origin', ?, true) AS o, "
            + "EXISTS (SELECT 1 FROM mmsync.set_aside WHERE origin = ? AND origin_change IS NOT NULL) AS sa) AS m "
            + "LEFT JOIN (SELECT x.s, x.t FROM ROWS FROM (pg_catalog.unnest(?::text[]), pg_catalog.unnest(?::text[])) AS x(s, t) "
            + "WHERE EXISTS (SELECT 1 FROM mmsync.sync_tables st JOIN mmsync.changes c ON c.relid = st.relid "
            + "WHERE st.schema_name::text = x.s AND st.table_name::text = x.t AND st.mode = 'keyed' AND c.op <> 'T')) AS q ON true";

    private PageBegin() {
    }

    /**
     * Locks the rows that updates and deletes of the page touch (a local transaction that changed
     * one of them has then committed, so its queued change is visible to the competitor check, and
     * none can change them until the apply commits; without this a local update racing the apply
     * would be overwritten here but win on the other node), of the tables whose changes the peer's
     * queue held at the last page's look ({@link TableShape#queuedHere}: where nothing local
     * writes, as under a one-way stream, the locks were a third of the peer's statement time; issue
     * 14). A local change of another table's row that races the apply is caught by the re-check
     * after the statements ({@link PageEnd#commit}): the apply's write of the row waited for it, so
     * it has committed by then, and the page is resolved again, with the locks. Then marks the
     * transaction as the origin's
     * and returns those of the candidates' tables of which the peer's queue holds a row change.
     * Records in {@code out} the last statement's snapshot (the re-check looks at what committed
     * after it) and whether set-aside changes of the origin wait. {@code keyLocks} (a sync of three
     * or more nodes, else null): the page's keys, locked first ({@link RowVersions#LOCK_SQL}).
     */
    static Set<TableRef> lockAndMark(Connection peer, String origin, Map<Integer, Change> candidates, PeerTables tables,
                                     Resolver.Outcome out, String keyLocks) throws SQLException {
        Map<TableRef, StringBuilder> byTable = new LinkedHashMap<>();
        Map<TableRef, Change> firstOf = new LinkedHashMap<>();
        Map<TableRef, Change> candidateTables = new LinkedHashMap<>();
        for (Map.Entry<Integer, Change> e : candidates.entrySet()) {
            Change c = e.getValue();
            candidateTables.putIfAbsent(c.table(), c);
            if (c.op() == Op.INSERT || (keyLocks == null && !tables.get(c).queuedHere)) {
                continue; // no lock for it (below): its image is not copied (issue 15, the agent's CPU per change)
            }
            if (out.unlocked.contains(e.getKey())) {
                continue; // an update of delta columns: its row is locked by its statement (LateDelta)
            }
            StringBuilder sb = byTable.get(c.table());
            if (sb == null) {
                sb = new StringBuilder("[");
                byTable.put(c.table(), sb);
                firstOf.put(c.table(), c);
            } else {
                sb.append(',');
            }
            sb.append(c.oldRow());
        }
        StringBuilder sql = new StringBuilder();
        List<String> lockRows = new ArrayList<>();
        // a sample for the competitor cache, before anything gives the transaction its id (CompetitorCache#SAMPLE_SQL)
        boolean sample = keyLocks == null && tables.competitors.wantsSample();
        if (sample) {
            sql.append(CompetitorCache.SAMPLE_SQL).append("; ");
        }
        if (keyLocks != null) {
            // a sync of three or more nodes: the keys first, then the rows (see RowVersions)
            sql.append(RowVersions.LOCK_SQL).append("; ");
            lockRows.add(keyLocks);
        }
        // byTable holds only tables to lock: with no local changes of a table lately (queuedHere false, and a
        // sync of two nodes), the re-check covers a racing one (issue 14)
        for (Map.Entry<TableRef, StringBuilder> e : byTable.entrySet()) {
            TableShape shape = tables.get(firstOf.get(e.getKey()));
            sql.append(shape.lockSql()).append("; ");
            lockRows.add(e.getValue().append(']').toString());
        }
        sql.append(MARK_AND_QUEUED_SQL);
        Set<TableRef> queued = new HashSet<>();
        try (PreparedStatement st = peer.prepareStatement(sql.toString())) {
            int p = 1;
            for (String rows : lockRows) {
                st.setObject(p++, rows, Types.OTHER);
            }
            st.setString(p++, origin);
            st.setString(p++, origin);
            st.setArray(p++, peer.createArrayOf("text", candidateTables.keySet().stream().map(TableRef::schema).toArray()));
            st.setArray(p, peer.createArrayOf("text", candidateTables.keySet().stream().map(TableRef::name).toArray()));
            st.execute();
            if (sample) {
                try (ResultSet rs = st.getResultSet()) {
                    tables.competitors.sampled(rs);
                }
                st.getMoreResults();
            }
            for (int i = 0; i < lockRows.size(); i++) {
                st.getMoreResults();
            }
            try (ResultSet rs = st.getResultSet()) {
                while (rs.next()) {
                    out.snapshot = rs.getString(1);
                    out.hadSetAside = rs.getBoolean(4);
                    if (rs.getString(2) != null) {
                        queued.add(new TableRef(rs.getString(2), rs.getString(3)));
                    }
                }
            }
        }
        for (Change c : candidateTables.values()) {
            tables.get(c).queuedHere = queued.contains(c.table());
        }
        return queued;
    }
}
