package io.mmsync.engine.apply;

import io.mmsync.engine.error.ErrorPolicy;
import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.PeerHorizon;
import io.mmsync.engine.model.SyncState;
import io.mmsync.engine.time.Clock;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.util.List;

/**
 * Applies a page of an origin's changes at a peer in one peer transaction, together with the
 * new position in the peer's {@code mmsync.progress} and the conflicts resolved on the way: a
 * crash at any instant leaves all or none of them. The transaction sets {@code mmsync.origin}, so
 * the peer's capture triggers do not queue these rows again. A change the peer cannot apply is set
 * aside (see {@link SetAside}) and the rest of the page goes on.
 */
public final class Applier {
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(Applier.class.getName());
    /** Attempts at one page before the link gives up for now (and retries after its back-off). */
    static final int MAX_RACED_ATTEMPTS = 20;

    private final String peerName;
    private final PeerTables tables;
    private final RunExecutor executor;
    private final Clock clock;
    private final SyncNodes nodes = new SyncNodes();
    private final PageAtOnce atOnce = new PageAtOnce();
    private final OnPurpose onPurpose = new OnPurpose();
    /** whether the peer of this session has mmsync._fail (see OnPurpose) */
    private boolean ownFailure;
    /** per table, the most rows a page's late delta updates named: their order (LateDelta#split) */
    private final java.util.Map<io.mmsync.engine.model.TableRef, Integer> lateWidths = new java.util.HashMap<>();
    /** the last attempt was rolled back because a late delta update found rows missing (LateDelta) */
    private boolean lateMissing;

    public Applier(String peerName, Clock clock) {
        this.clock = clock;
        this.peerName = peerName;
        this.tables = new PeerTables(peerName);
        this.executor = new RunExecutor(tables);
    }

    /** What applying a page did. */
    public static final class Result {
        public final int conflicts;
        public final int setAside;
        /** statements the changes took (see RunPlanner) */
        public final int runs;
        /** nanoseconds spent resolving (locks, competitor lookup), running the statements, committing */
        public final long resolveNanos;
        public final long runNanos;
        public final long commitNanos;
        /** the peer's snapshot right after the commit (a purge mark's horizon) */
        public final PeerHorizon horizon;
        /**
         * whether the peer's queue held changes of the page's tables (it writes them too), as far as the
         * apply looked (a page applied at once is assumed to: see Pacing)
         */
        public final boolean peerWrites;

        Result(int conflicts, int setAside, int runs, long resolveNanos, long runNanos, long commitNanos, PeerHorizon horizon,
               boolean peerWrites) {
            this.horizon = horizon;
            this.peerWrites = peerWrites;
            this.conflicts = conflicts;
            this.setAside = setAside;
            this.runs = runs;
            this.resolveNanos = resolveNanos;
            this.runNanos = runNanos;
            this.commitNanos = commitNanos;
        }
    }

    public Result apply(Connection peer, SyncState sync, String origin, Page page) throws SQLException {
        tables.use(peer);
        ownFailure = onPurpose.own(peer);
        try {
            return settled(peer, sync, origin, page, false);
        } catch (SQLException e) {
            if (!ErrorPolicy.isDataError(e)) {
                throw e;
            }
            tables.clear();
            return settled(peer, sync, origin, page, true);
        }
    }

    /**
     * Applies the page, again while a local change of one of its rows commits between the
     * competitor lookup and the apply statements (see {@link PageEnd#commit}): each attempt sees
     * every local change that raced the previous one, so only a new race on the same rows within
     * a few milliseconds makes another.
     */
    private Result settled(Connection peer, SyncState sync, String origin, Page page, boolean careful)
            throws SQLException {
        boolean late = !careful;
        for (int attempt = 1; ; attempt++) {
            // the first attempt leaves the rows of delta updates to their statements (LateDelta); a page
            // resolved again locks them first
            Result r = attempt(peer, sync, origin, page, careful, late && attempt == 1);
            if (r != null) {
                return r;
            }
            if (lateMissing) {
                lateMissing = false;
                late = false;
                attempt--;
                LOG.fine(() -> "page from " + origin + " at " + peerName + ": rows of a delta update are missing here; "
                        + "applying it with its rows locked first");
                continue;
            }
            // local writes of the page's tables: the next attempt locks its rows first (PageBegin)
            for (Change c : page.changes()) {
                if (c.op() != io.mmsync.engine.model.Op.TRUNCATE && !c.insertOnly()) {
                    tables.get(c).queuedHere = true;
                }
            }
            if (attempt == MAX_RACED_ATTEMPTS) {
                throw new SQLException("mmsync: applying a page of " + page.changes().size() + " changes from " + origin
                        + " at " + peerName + " raced local writes of the same rows " + attempt + " times in a row; "
                        + "the link tries again", "40001");
            }
            LOG.fine(() -> "page from " + origin + " at " + peerName + " raced a local write of one of its rows; resolving again");
        }
    }

    /**
     * Set-aside changes of this origin applied again; returns how many went through. In a sync of
     * three or more nodes each is first decided against its row's version, as in a page, and its
     * version recorded if it applies.
     */
    public int retrySetAside(Connection peer, SyncState sync, String origin) throws SQLException {
        tables.use(peer);
        boolean many = nodes.count(peer, sync) > 2;
        return SetAside.retry(peer, sync.name, sync.conflict, origin, executor, many ? c -> decideAlone(peer, sync, origin, c) : null);
    }

    /** A set-aside change decided on its own (inside the retry's savepoint: undone if it fails again). */
    private Action decideAlone(Connection peer, SyncState sync, String origin, Change c) throws SQLException {
        Resolver.Outcome outcome = Resolver.resolve(peer, sync, origin, peerName, List.of(c), tables, clock, true);
        Action a = outcome.action(c);
        if (a == Action.APPLY && outcome.deltaLogged.isEmpty()) {
            RowVersions.write(peer, origin, List.of(c));
        }
        // ManyDelta: an insert starting the row's newest incarnation applies as its rewrite, a key move
        // as its delete and insert
        for (Change part : outcome.expanded.getOrDefault(c, List.of(c))) {
            Change rewritten = outcome.rebased.get(part);
            if (rewritten != null && outcome.action(part) == Action.APPLY) {
                executor.execute(peer, Run.of(Action.APPLY, rewritten));
                a = Action.SKIP;
            } else if (part != c && outcome.action(part) == Action.APPLY) {
                executor.execute(peer, Run.of(Action.APPLY, part));
            }
        }
        ManyDelta.record(peer, origin, outcome.deltaLogged);
        ConflictLog.write(peer, outcome.conflicts, outcome.decidedConflictIds);
        return a;
    }

    /** One attempt; null (rolled back) if a local change raced the decisions. */
    private Result attempt(Connection peer, SyncState sync, String origin, Page page, boolean careful, boolean late)
            throws SQLException {
        Run one = careful || nodes.count(peer, sync) > 2 ? null : atOnce.fits(page, tables);
        if (one != null) {
            // a few inserts into one table: one request (PageAtOnce); the plain way if it declines
            long t0 = clock.nanoTime();
            PeerHorizon h = atOnce.commit(peer, executor, sync.name, origin, page, one, ownFailure);
            if (h != null) {
                return new Result(0, 0, 1, 0, 0, clock.nanoTime() - t0, h, true);
            }
        }
        peer.setAutoCommit(false);
        executor.missing.clear();
        try {
            long t0 = clock.nanoTime();
            Resolver.Outcome outcome = Resolver.resolve(peer, sync, origin, peerName, page.changes(), tables, clock,
                    nodes.count(peer, sync) > 2, late);
            atOnce.learned(page.changes().stream().map(Change::table).collect(java.util.stream.Collectors.toSet()),
                    outcome.queued, outcome.hadSetAside);
            if (outcome.pending) {
                peer.rollback();
                throw pending(peer, sync, origin, outcome);
            }
            long t1 = clock.nanoTime();
            int setAside = 0;
            java.util.Set<Change> failed = new java.util.HashSet<>();
            List<Change> planned = outcome.rebased.isEmpty() && outcome.expanded.isEmpty() ? page.changes()
                    : page.changes().stream().flatMap(c -> outcome.expanded.getOrDefault(c, List.of(c)).stream())
                    .map(c -> outcome.rebased.getOrDefault(c, c)).collect(java.util.stream.Collectors.toList());
            List<Run> runs = RunPlanner.plan(planned, outcome::action, tables);
            int runCount = runs.size();
            // updates of delta columns whose rows were not locked first: sent with the commit (LateDelta)
            List<RunExecutor.Deferred> head = new java.util.ArrayList<>();
            List<RunExecutor.Deferred> lateRuns = List.of();
            // without a hot table LateDelta.split takes no run: their statements are not built (issue 14:
            // a one-way stream's delta updates built them twice, a twentieth of the sending agent's CPU)
            java.util.Set<io.mmsync.engine.model.TableRef> hot = late && !careful && !outcome.unlocked.isEmpty()
                    ? LateDelta.hot(outcome) : java.util.Set.of();
            if (!hot.isEmpty()) {
                java.util.Map<Run, List<RunExecutor.Deferred>> lateOnes = new java.util.HashMap<>();
                for (Run run : runs) {
                    List<RunExecutor.Deferred> d = executor.lateUpdate(run, ownFailure);
                    if (d != null) {
                        lateOnes.put(run, d);
                    }
                }
                if (!lateOnes.isEmpty()) {
                    runs = new java.util.ArrayList<>(runs);
                    lateRuns = LateDelta.split(runs, lateOnes, tables, hot, lateWidths);
                }
            }
            // conflicts that lost nothing are counted in the commit request; the rest logged before it
            ConflictLog.Split conflicts = ConflictLog.split(outcome.conflicts, tables);
            // a short insert run last, with nothing written after it but the position (and such counts): sent with the commit
            boolean deferLast = !careful && outcome.versioned == null && !outcome.hadSetAside && conflicts.rest().isEmpty()
                    && outcome.decidedConflictIds.isEmpty();
            RunExecutor.Deferred last = null;
            for (int i = 0; i < runs.size(); i++) {
                Run run = runs.get(i);
                if (deferLast && i == runs.size() - 1 && (last = executor.deferred(run)) != null) {
                    break;
                }
                setAside += careful ? carefully(peer, sync.name, origin, run, failed) : run(peer, run);
            }
            if (outcome.versioned != null) {
                RowVersions.write(peer, origin, outcome.versioned.stream()
                        .filter(c -> outcome.action(c) == Action.APPLY && !failed.contains(outcome.rebased.getOrDefault(c, c)))
                        .collect(java.util.stream.Collectors.toList())); // a set-aside change gets its entry when retried
            }
            if (!outcome.deltaLogged.isEmpty()) {
                ManyDelta.record(peer, origin, outcome.deltaLogged.stream()
                        .filter(c -> !failed.contains(outcome.rebased.getOrDefault(c, c)))
                        .collect(java.util.stream.Collectors.toList()));
            }
            if (outcome.hadSetAside && !page.isEmpty()) {
                SetAside.supersede(peer, origin, page.changes());
            }
            long t2 = clock.nanoTime();
            // updates and deletes whose rows were missing here are logged with the rest (MissingRows)
            List<ConflictLog.Entry> logged = new java.util.ArrayList<>(conflicts.rest());
            logged.addAll(executor.missing.entries(sync.name, sync.conflict, origin));
            ConflictLog.write(peer, logged, outcome.decidedConflictIds);
            if (conflicts.counts() != null) {
                head.add(conflicts.counts());
            }
            if (last != null) {
                head.add(last);
            }
            head.addAll(lateRuns);
            PeerHorizon horizon;
            try {
                horizon = PageEnd.commit(peer, outcome, sync.name, origin, page, head, ownFailure);
            } catch (SQLException e) {
                if (!LateDelta.missing(e)) {
                    throw e;
                }
                peer.rollback();
                lateMissing = true;
                return null; // rolled back: applied again with its rows locked first
            }
            if (horizon == null) {
                return null; // rolled back: a local change raced the decisions
            }
            return new Result(outcome.conflicts.size(), setAside, runCount, t1 - t0, t2 - t1, clock.nanoTime() - t2, horizon,
                    outcome.queued == null || !outcome.queued.isEmpty() || outcome.hadSetAside);
        } catch (SQLException | RuntimeException e) {
            try {
                peer.rollback();
            } catch (SQLException re) {
                e.addSuppressed(re);
            }
            throw e;
        } finally {
            try {
                peer.setAutoCommit(true);
            } catch (SQLException ignored) {
                // the connection is broken; the link reconnects and learns of it there
            }
        }
    }

    private int run(Connection peer, Run run) throws SQLException {
        executor.execute(peer, run);
        return 0;
    }

    /** A run under a savepoint; if it fails, its changes one by one, setting aside those that fail. */
    private int carefully(Connection peer, String sync, String origin, Run run, java.util.Set<Change> failed)
            throws SQLException {
        Savepoint sp = peer.setSavepoint();
        int found = executor.missing.size();
        try {
            executor.execute(peer, run);
            peer.releaseSavepoint(sp);
            return 0;
        } catch (SQLException e) {
            if (!ErrorPolicy.isDataError(e)) {
                throw e;
            }
            peer.rollback(sp);
            executor.missing.keep(found);
            tables.clear();
        }
        int count = 0;
        for (Change c : run.changes()) {
            Run single = Run.of(run.action, c);
            Savepoint one = peer.setSavepoint();
            int before = executor.missing.size();
            try {
                executor.execute(peer, single);
                peer.releaseSavepoint(one);
            } catch (SQLException e) {
                if (!ErrorPolicy.isDataError(e)) {
                    throw e;
                }
                peer.rollback(one);
                executor.missing.keep(before);
                tables.clear();
                SetAside.record(peer, sync, origin, c, e);
                failed.add(c);
                count++;
            }
        }
        return count;
    }

    /** Logs the undecided conflicts (in their own transaction) and stops the sync. */
    private SQLException pending(Connection peer, SyncState sync, String origin, Resolver.Outcome outcome)
            throws SQLException {
        List<ConflictLog.Entry> undecided = outcome.conflicts.stream()
                .filter(e -> e.resolution == Resolution.PENDING).collect(java.util.stream.Collectors.toList());
        try (PreparedStatement st = peer.prepareStatement(
                "DELETE FROM mmsync.conflicts WHERE origin = ? AND origin_change = ? AND resolution = 'pending'")) {
            for (ConflictLog.Entry e : undecided) {
                st.setString(1, origin);
                st.setLong(2, e.change.id().asLong());
                st.addBatch();
            }
            st.executeBatch();
        }
        ConflictLog.write(peer, undecided, List.of());
        peer.commit();
        ConflictLog.Entry first = undecided.get(0);
        return new ConflictPendingException("mmsync: conflict on " + first.change.table() + " key (" + first.change.key()
                .replace('\u001f', ',') + ") between " + origin + " and " + peerName + " under strategy abort: "
                + undecided.size() + " undecided; on " + peerName + " see SELECT * FROM mmsync.conflicts WHERE resolution = "
                + "'pending', decide with mmsync.resolve_conflict(id, 'apply' | 'skip'), then SELECT mmsync.resume('"
                + sync.name + "')");
    }

    /** An abort-strategy conflict waits for the DBA. */
    public static final class ConflictPendingException extends SQLException {
        ConflictPendingException(String message) {
            super(message, "40P99");
        }
    }
}
