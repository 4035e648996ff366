package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ConflictStrategy;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.SyncState;
import io.mmsync.engine.model.TableRef;
import io.mmsync.engine.time.Clock;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Settles conflicts at the peer, inside the apply transaction: finds which incoming changes
 * conflict, gathers the facts and lets {@link Decision} (pure, the rules of every strategy) say
 * who wins. A change conflicts when the peer's own queue still holds a change of the same row (its
 * "competitor": the queue keeps a change until a concurrent one from the origin can no longer
 * arrive, see mmsync._purge).
 */
final class Resolver {
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(Resolver.class.getName());

    private static final String DECISIONS_SQL = "SELECT origin_change, decision, id FROM mmsync.conflicts "
            + "WHERE origin = ? AND resolution = 'pending' AND decision IS NOT NULL";

    /** The actions for a page, the conflicts to log, and those that stop the sync. */
    static final class Outcome {
        final Map<Change, Action> actions = new HashMap<>();
        final List<ConflictLog.Entry> conflicts = new ArrayList<>();
        final List<Long> decidedConflictIds = new ArrayList<>();
        /** table, key and local change time of local changes that beat this origin in this page */
        final Set<String> beaten = new HashSet<>();
        boolean pending;
        /** the page's tables with changes in the peer's own queue, as the first request found (PageAtOnce learns from it) */
        Set<TableRef> queued = Set.of();
        /** whether set-aside changes of the origin wait at the peer (see SetAside#markOrigin) */
        boolean hadSetAside;
        /** every candidate by index, for the re-check (see {@link #keys()}); null when nothing to check */
        Map<Integer, Change> recheck;
        /** the snapshot in which the lookup began: a change of this node not visible in it is late */
        String snapshot;
        /** per candidate index: the id of the competitor the decision was made against */
        final Map<Integer, Long> competitorIds = new HashMap<>();
        /**
         * candidates whose rows were not locked before the lookup ({@link LateDelta}): a late local
         * change of delta columns alone does not make their decisions stale; empty unless late
         */
        final Set<Integer> unlocked = new HashSet<>();
        /** a sync of three or more nodes: the candidates, whose versions are recorded if applied; else null */
        List<Change> versioned;
        /** inserts to apply as upserts of another row ({@link Action#REBASE}): the change, its rewrite */
        final Map<Change, Change> rebased = new HashMap<>();
        /** changes of tables with delta columns in a sync of three or more nodes, to record in row_deltas ({@link ManyDelta}) */
        final List<Change> deltaLogged = new ArrayList<>();
        /** key moves of tables with delta columns in a sync of three or more nodes: the delete and the insert they apply as */
        final Map<Change, List<Change>> expanded = new HashMap<>();

        Action action(Change c) {
            return actions.getOrDefault(c, Action.APPLY);
        }

        /** Every candidate's key (index i, table, key) as JSON, built only when the re-check needs it. */
        String keys() {
            return CompetitorSql.keys(recheck);
        }
    }

    private Resolver() {
    }

    /**
     * {@code many}: the sync has three or more nodes; each candidate is then decided against its
     * row's version, the newer of its competitor and its {@link RowVersions} entry.
     */
    static Outcome resolve(Connection peer, SyncState sync, String origin, String peerName,
                           List<Change> changes, PeerTables tables, Clock clock, boolean many) throws SQLException {
        return resolve(peer, sync, origin, peerName, changes, tables, clock, many, false);
    }

    /** {@code late}: the rows of updates of delta columns are locked by the apply's statements, not first ({@link LateDelta}). */
    static Outcome resolve(Connection peer, SyncState sync, String origin, String peerName, List<Change> changes,
                           PeerTables tables, Clock clock, boolean many, boolean late) throws SQLException {
        Outcome out = new Outcome();
        Map<Integer, Change> candidates = new LinkedHashMap<>();
        for (int i = 0; i < changes.size(); i++) {
            Change c = changes.get(i);
            if (c.op() != Op.TRUNCATE && !c.insertOnly()) {
                candidates.put(i, c);
                if (late && !many && sync.conflict == ConflictStrategy.LATEST && LateDelta.unlocked(c, tables)) {
                    out.unlocked.add(i);
                }
            }
        }
        if (candidates.isEmpty()) {
            out.hadSetAside = SetAside.markOrigin(peer, origin);
            return out;
        }
        // a sync of three or more nodes: the changes of tables with delta columns follow DeltaRule (ManyDelta)
        Map<Integer, Change> deltas = many ? ManyDelta.select(candidates, tables) : Map.of();
        long t0 = clock.nanoTime();
        // only tables of which the peer's queue holds a change can have competitors: for the others
        // (in a catch-up, usually all) the per-key lookup is skipped
        Set<TableRef> queued = PageBegin.lockAndMark(peer, origin, candidates, tables, out,
                many ? RowVersions.lockKeys(candidates.values()) : null);
        long t1 = clock.nanoTime();
        out.queued = queued;
        out.recheck = new LinkedHashMap<>(candidates);
        Map<Integer, RowVersions.Version> versions = Map.of();
        if (!deltas.isEmpty()) {
            ManyDelta.resolve(peer, sync, origin, peerName, deltas, tables, out);
            candidates.keySet().removeAll(deltas.keySet());
        }
        if (many) {
            out.versioned = new ArrayList<>(candidates.values());
            versions = candidates.isEmpty() ? Map.of() : RowVersions.lookup(peer, candidates);
        }
        if (queued.isEmpty() && versions.isEmpty()) {
            return out; // no candidate can have a competitor (a catch-up's page: the removeIf below cost 4% of the agent)
        }
        Map<Integer, RowVersions.Version> entries = versions;
        candidates.entrySet().removeIf(e -> !queued.contains(e.getValue().table()) && !entries.containsKey(e.getKey()));
        if (candidates.isEmpty()) {
            return out;
        }
        Map<Integer, Competitor> competitors = new TreeMap<>();
        Map<Integer, Instant> insertedAt = new HashMap<>();
        Map<Integer, Change> inQueued = candidates;
        if (!versions.isEmpty()) {
            inQueued = new LinkedHashMap<>(candidates);
            inQueued.entrySet().removeIf(e -> !queued.contains(e.getValue().table()));
        }
        // a sync of two nodes: from the cache, which reads only what this node queued since the last page
        List<CompetitorCache.Found> cached = many || inQueued.isEmpty() ? null
                : tables.competitors.lookup(peer, inQueued);
        if (cached != null) {
            for (CompetitorCache.Found f : cached) {
                competitors.put(f.i(), new Competitor(Op.fromCode(f.op()), f.at() == null ? null : f.at().toInstant(), peerName));
                out.competitorIds.put(f.i(), f.id());
                if (f.insAt() != null) {
                    insertedAt.put(f.i(), f.insAt().toInstant());
                }
            }
        } else if (!inQueued.isEmpty()) {
            try (PreparedStatement st = peer.prepareStatement(CompetitorSql.COMPETITORS_SQL)) {
                st.setObject(1, CompetitorSql.keys(inQueued), Types.OTHER);
                try (ResultSet rs = st.executeQuery()) {
                    while (rs.next()) {
                        Timestamp at = rs.getTimestamp(3);
                        competitors.put(rs.getInt(1), new Competitor(Op.fromCode(rs.getString(2)),
                            at == null ? null : at.toInstant(), peerName));
                        out.competitorIds.put(rs.getInt(1), rs.getLong(4));
                        Timestamp ins = rs.getTimestamp(5);
                        if (ins != null) {
                            insertedAt.put(rs.getInt(1), ins.toInstant());
                        }
                    }
                }
            }
        }
        newerVersions(competitors, versions);
        long t2 = clock.nanoTime();
        if (competitors.isEmpty()) {
            return out;
        }
        Map<Integer, String[]> current = currentRows(peer, candidates, competitors, tables);
        if (LOG.isLoggable(java.util.logging.Level.FINE)) {
            LOG.fine(String.format("resolve: %d candidates, %d with a competitor; lock %.1f ms, competitors %.1f ms "
                    + "(%s), current rows %.1f ms", candidates.size(), competitors.size(), (t1 - t0) / 1e6, (t2 - t1) / 1e6,
                    cached == null ? "pass over the queue" : (tables.competitors.lastBuilt ? "cache built, " : "cache, ")
                    + tables.competitors.lastRead + " keys read, " + tables.competitors.size() + " held",
                    (clock.nanoTime() - t2) / 1e6));
        }
        Map<Long, Decision.Dba> decisions = sync.conflict == ConflictStrategy.ABORT ? decisions(peer, origin) : Map.of();
        // table and key -> whether the row is here after the page's earlier changes of it (insert, delete)
        Map<String, Boolean> hereAfter = new HashMap<>();
        for (Map.Entry<Integer, Competitor> e : competitors.entrySet()) {
            Change c = candidates.get(e.getKey());
            Op localOp = e.getValue().op();
            Instant localAt = e.getValue().at();
            String versionNode = e.getValue().node();
            if (many && origin.equals(versionNode)) {
                continue; // the row's version is the origin's own earlier change: this one comes after it
            }
            String[] cur = current.get(e.getKey());
            String currentRow = cur == null ? null : cur[0];
            boolean asExpected = c.op() == Op.INSERT ? cur == null : cur != null && "t".equals(cur[1]);
            // the incarnation rule of delta columns: latest, two nodes (see Decision.Incarnation)
            String rowKey = c.table() + "\u0000" + c.key();
            boolean rowHere = c.movesKey() || hereAfter.getOrDefault(rowKey, cur != null);
            Decision.Incarnation inc = many || sync.conflict != ConflictStrategy.LATEST ? null
                    : new Decision.Incarnation(insertedAt.get(e.getKey()), rowHere);
            Decision.Facts facts = new Decision.Facts(sync.conflict, sync.prefer, origin, versionNode, c.op(), c.at(),
                    localOp, localAt, asExpected, tables.get(c).hasDelta(), decisions.get(c.id().asLong()), inc);
            // table, key and local change time: the local change that would beat this origin
            String lost = c.table() + "\u0000" + c.key() + "\u0000" + localAt;
            Decision.Result d = Decision.decide(facts, () -> out.beaten.contains(lost) || beatenBefore(peer, origin, c, localAt));
            record(out, sync, origin, c, facts, d, lost, currentRow);
            if (d.action() == Action.REBASE) {
                boolean won = d.winner() == Decision.Winner.REMOTE;
                // the row gone here (an incoming delete won over this node's newer update): the other
                // columns of that update's image
                String base = won ? c.newRow() : currentRow != null ? currentRow
                        : Rebase.localImage(peer, out.competitorIds.get(e.getKey()));
                out.rebased.put(c, Rebase.rewrite(peer, c, tables.get(c), base, origin, peerName));
                out.actions.put(c, won ? Action.APPLY : Action.SKIP);
            }
            Action done = out.action(c);
            if (c.op() == Op.INSERT && (done == Action.APPLY || d.action() == Action.REBASE)) {
                hereAfter.put(rowKey, true);
            } else if (c.op() == Op.DELETE && done == Action.APPLY) {
                hereAfter.put(rowKey, false);
            }
        }
        return out;
    }

    /** The version a candidate is decided against: this node's newest change of the key, or its row_versions entry. */
    private record Competitor(Op op, Instant at, String node) {
    }

    /**
     * Where a candidate's row was last written by an apply after this node's own newest change of
     * it (or has no such change), its version is that entry: op, time and node of the entry.
     */
    private static void newerVersions(Map<Integer, Competitor> competitors, Map<Integer, RowVersions.Version> versions) {
        for (Map.Entry<Integer, RowVersions.Version> e : versions.entrySet()) {
            RowVersions.Version v = e.getValue();
            Competitor local = competitors.get(e.getKey());
            if (local == null || local.at() == null || RowVersions.greater(v.at(), v.node(), local.at(), local.node())) {
                competitors.put(e.getKey(), new Competitor(v.op(), v.at(), v.node()));
            }
        }
    }

    /** Adds a decision to the page's outcome. */
    private static void record(Outcome out, SyncState sync, String origin, Change c, Decision.Facts facts,
                               Decision.Result d, String lost, String currentRow) {
        if (d.beatsOrigin()) {
            out.beaten.add(lost);
        }
        if (d == Decision.Result.NO_CONFLICT) {
            return;
        }
        out.actions.put(c, d.action());
        out.pending |= d.action() == Action.PENDING;
        if (d.dba() != null) {
            out.decidedConflictIds.add(d.dba().conflictId());
        }
        if (d.isConflict()) {
            String winning;
            String losing;
            switch (d.winner()) {
                case REMOTE:
                    winning = c.newRow();
                    losing = currentRow;
                    break;
                case LOCAL:
                    winning = currentRow;
                    losing = c.op() == Op.DELETE ? c.oldRow() : c.newRow();
                    break;
                default:
                    winning = null;
                    losing = currentRow;
            }
            String kind = name(c.op()) + "_" + name(facts.localOp());
            out.conflicts.add(new ConflictLog.Entry(sync.name, c, kind, sync.conflict, d.resolution(), origin, c.at(),
                    facts.localAt(), winning, losing));
        }
    }

    /** Whether this node's change made at {@code localAt} already won a conflict over {@code origin}. */
    private static boolean beatenBefore(Connection peer, String origin, Change c, Instant localAt) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement("SELECT EXISTS (SELECT 1 FROM mmsync.conflicts WHERE origin = ? "
                + "AND schema_name = ? AND table_name = ? AND key = ? AND local_at = ? AND resolution IN ('local_kept', 'skipped'))")) {
            st.setString(1, origin);
            st.setString(2, c.table().schema());
            st.setString(3, c.table().name());
            st.setString(4, c.key().replace('\u001f', ','));
            st.setTimestamp(5, Timestamp.from(localAt));
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    private static String name(Op op) {
        return op.name().toLowerCase();
    }

    /**
     * For candidates that have a competitor: the peer's current row and whether it is the expected
     * one. One statement per table, all in one request (issue 15: two-way TPC-B's pages read the rows
     * of two or three tables, a round trip each).
     */
    private static Map<Integer, String[]> currentRows(Connection peer, Map<Integer, Change> candidates,
                                                      Map<Integer, Competitor> competitors, PeerTables tables) throws SQLException {
        Map<TableRef, List<Integer>> byTable = new LinkedHashMap<>();
        for (Integer i : competitors.keySet()) {
            byTable.computeIfAbsent(candidates.get(i).table(), t -> new ArrayList<>()).add(i);
        }
        StringBuilder sql = new StringBuilder();
        List<String> arrays = new ArrayList<>();
        List<List<Integer>> order = new ArrayList<>();
        for (Map.Entry<TableRef, List<Integer>> e : byTable.entrySet()) {
            List<Integer> idx = e.getValue();
            StringBuilder arr = new StringBuilder("[");
            for (int j = 0; j < idx.size(); j++) {
                arr.append(j > 0 ? "," : "").append(candidates.get(idx.get(j)).keyRow());
            }
            arrays.add(arr.append(']').toString());
            order.add(idx);
            sql.append(sql.length() > 0 ? "; " : "").append(tables.get(candidates.get(idx.get(0))).currentRowsSql());
        }
        Map<Integer, String[]> out = new HashMap<>();
        try (PreparedStatement st = peer.prepareStatement(sql.toString())) {
            for (int k = 0; k < arrays.size(); k++) {
                st.setObject(k + 1, arrays.get(k), Types.OTHER);
            }
            int k = 0;
            for (boolean isRs = st.execute(); isRs || st.getUpdateCount() != -1; isRs = st.getMoreResults()) {
                if (!isRs) {
                    continue;
                }
                List<Integer> idx = order.get(k++);
                try (ResultSet rs = st.getResultSet()) {
                    while (rs.next()) {
                        out.put(idx.get(rs.getInt(1) - 1), new String[] {rs.getString(2), rs.getString(3)});
                    }
                }
            }
        }
        return out;
    }

    /** The DBA's decisions on this origin's pending conflicts, by origin change id. */
    private static Map<Long, Decision.Dba> decisions(Connection peer, String origin) throws SQLException {
        Map<Long, Decision.Dba> out = new HashMap<>();
        try (PreparedStatement st = peer.prepareStatement(DECISIONS_SQL)) {
            st.setString(1, origin);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    out.put(rs.getLong(1), new Decision.Dba("apply".equals(rs.getString(2)), rs.getLong(3)));
                }
            }
        }
        return out;
    }
}
