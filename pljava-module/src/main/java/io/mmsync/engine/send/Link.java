package io.mmsync.engine.send;

import io.mmsync.engine.apply.Applier;
import io.mmsync.engine.apply.CopyRelay;
import io.mmsync.engine.conn.Connector;
import io.mmsync.engine.error.ErrorPolicy;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.LinkState;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.PeerHorizon;
import io.mmsync.engine.model.Position;
import io.mmsync.engine.model.SyncState;
import io.mmsync.engine.time.Clock;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.ThreadFactory;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Sends one sync's local changes to one peer, forever: reads pages from the local queue, applies
 * each at the peer with its position in one peer transaction, confirms locally, purges what every
 * peer has. Reads again at once while pages come; after a small page it takes the idle-sender lock
 * and, finding nothing, waits for a NOTIFY from the capture trigger or the poll interval (see
 * {@link Wakeup}; a turn's local reads: {@link LocalTurn}). Any failure closes both connections and retries with capped
 * back-off: a peer that goes away never needs a kick.
 */
public final class Link implements Runnable {
    private static final Logger LOG = Logger.getLogger(Link.class.getName());
    private final String syncName;
    private final String origin;
    private final Connector local;
    private final Connector peer;
    private final LinkSettings config;
    private final Clock clock;
    private final ChangeReader reader;
    private final Applier applier;
    private final LinkStore store;
    private final Purger purger;
    private final ColumnCheck columnCheck;
    private final ReadAhead readAhead;
    private final NextTurn nextTurn;
    private final Wakeup wakeup;
    private final Retries retries;
    private final String logPrefix;
    private final InitialStep initialStep;
    private final LocalTurn turn;
    private final RelayTurn relay;

    private volatile boolean stopping;
    private volatile boolean finished;
    private final SessionConnections open;
    private final DefinitionPush definition;
    private final Pacing pacing;
    private final LinkStatus status;
    /** the session's position: what the peer has applied, with the range being sent */
    private Position pos;
    private final Confirmations confirmations;
    /** the sync's id as this session last read it (-1: not yet) */
    private int syncIdSeen = -1;

    public Link(String syncName, String origin, Connector local, Connector peer, LinkSettings config, ThreadFactory threads) {
        this.syncName = syncName;
        this.origin = origin;
        this.local = local;
        this.peer = peer;
        this.config = config;
        this.clock = config.clock();
        this.reader = new ChangeReader(config.pageRows(), config.pageBytes(), clock);
        this.applier = new Applier(peer.nodeName(), clock);
        this.store = new LinkStore(syncName, peer.nodeName());
        this.purger = new Purger("mmsync link " + syncName + " to " + peer.nodeName() + ": ", clock);
        this.columnCheck = new ColumnCheck(syncName, origin, peer.nodeName(), clock);
        this.readAhead = new ReadAhead(threads);
        this.nextTurn = new NextTurn(threads);
        this.wakeup = new Wakeup(config);
        this.logPrefix = "mmsync link " + syncName + " " + origin + "->" + peer.nodeName() + ": ";
        this.retries = new Retries(logPrefix, clock);
        this.initialStep = new InitialStep(syncName, origin, local, peer, threads);
        this.turn = new LocalTurn(syncName, peer.nodeName());
        this.relay = new RelayTurn(peer.nodeName(), config.pageRows());
        this.pacing = new Pacing(clock, config.heartbeat());
        this.confirmations = new Confirmations(store, pacing);
        this.open = new SessionConnections(logPrefix);
        this.definition = new DefinitionPush(syncName, peer.nodeName());
        this.status = new LinkStatus(store, pacing, local, peer.nodeName(), logPrefix);
    }

    public String name() {
        return syncName + ":" + peer.nodeName();
    }

    public boolean isFinished() {
        return finished;
    }

    @Override
    public void run() {
        try {
            runUntilStopped();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            readAhead.close();
            nextTurn.close();
            finished = true;
        }
    }

    private void runUntilStopped() throws InterruptedException {
        while (!stopping) {
            try {
                if (session()) {
                    return;
                }
            } catch (SQLException | RuntimeException e) {
                if (stopping) {
                    return;
                }
                onFailure(e);
            } finally {
                open.closeQuietly(); // ends a next turn's wait or request (NextTurn) at once
                nextTurn.discard();
            }
        }
    }

    /** Stops the link; closing the connections unblocks a wait or a query in progress. */
    public void stop() {
        stopping = true;
        initialStep.stop();
        open.closeQuietly();
    }

    /**
     * One connected session; returns true when the sync was removed and the link is done. Each turn
     * reads a page, applies it at the peer and confirms it here; a turn that found nothing to
     * send is an idle turn (purge marks, purge, set-aside retries, heartbeat, then a wait).
     */
    private boolean session() throws SQLException, InterruptedException {
        open.open(local, peer, store, syncName, origin);
        Connection lc = open.local();
        Connection pc = open.peer();
        columnCheck.reset();
        readAhead.discard();
        definition.reset();
        pos = PeerStore.readPosition(pc, syncName, origin);
        syncIdSeen = -1;
        confirmations.startAt(pos);
        initialStep.reset();
        store.state(lc, LinkState.RUNNING, null);
        pacing.beat();
        wakeup.start(0);
        // the next quick turn, run while the peer applied the last page (NextTurn)
        LocalTurn.Quick ahead = null;
        while (!stopping) {
            reader.sampleFloor(lc);
            long readStart = clock.nanoTime();
            LagTrace tr = wakeup.trace;
            tr.turn();
            boolean freshRange = !pos.hasOpenRange();
            // after a small page the whole turn is one request (LocalTurn.quick), else three
            boolean quick = freshRange && syncIdSeen >= 0 && wakeup.quiet() && initialStep.checked();
            LocalTurn.Quick q = null;
            SyncState sync;
            Integer arm = wakeup.armFor(syncIdSeen);
            // read during the last apply: without a lock attempt (the lock was held) or a confirmation (none was due)
            boolean readAhead = quick && ahead != null && arm == null;
            if (readAhead) {
                q = ahead;
                sync = q.sync();
            } else if (quick) {
                q = turn.quick(lc, arm, confirmations.pending(), reader, syncIdSeen, pos);
                sync = q.sync();
            } else {
                // the turn's first local request (LocalTurn): settings, the idle-sender lock if wanted, the sync
                sync = turn.begin(lc, arm, confirmations.pending());
            }
            ahead = null;
            if (!readAhead) {
                confirmations.sent(); // with this turn's request
            }
            tr.b1 = LagTrace.now();
            if (readAhead) {
                tr.readAhead(nextTurn);
            }
            wakeup.armed(turn.armOutcome());
            reader.tablesSeen(turn.tables());
            if (definition.due(sync) || sync.paused || !initialStep.checked()) {
                if (!quick) {
                    LocalTurn.close(lc); // the paths that take several steps: their own transactions
                }
                if (slowTurn(lc, pc, sync)) {
                    LOG.info(logPrefix + "sync removed; link stops");
                    return true;
                }
                continue;
            }
            if (quick && q.page() == null) {
                syncIdSeen = -1; // the sync's id changed: the next turn reads as a first one (three requests)
                continue;
            }
            syncIdSeen = sync.id;
            // after a full page of inserts into one table: the next one relayed as COPY text, if it is one too
            CopyRelay.Rows relayed = !quick && relay.due(pos) ? relay.prepare(lc, pc, sync, pos) : null;
            if (relayed != null) {
                relayTurn(lc, pc, sync, relayed);
                continue;
            }
            Page page = quick ? q.page() : readPage(lc, sync);
            if (quick) {
                pos = pos.openRange(sync.snapshot);
            }
            tr.r1 = LagTrace.now();
            // the resync mark is read after the page: the retention limit marks the peer and drops its
            // queue in one transaction, so a page read before that is whole, and one read after sees the
            // mark. A small page keeps the idle-sender lock: a writer that commits meanwhile notifies.
            boolean keep = wakeup.holding() && page.rangeComplete() && freshRange && page.changes().size() < Wakeup.ARM_BELOW;
            boolean unlock = !page.isEmpty() && wakeup.holding() && !keep;
            if (!quick) {
                turn.end(lc, !page.isEmpty(), unlock ? wakeup.lockedSyncId() : null);
            } else if (unlock) {
                wakeup.releaseNow(lc); // many changes at once: writers stop notifying (a request only then)
            }
            long readNanos = clock.nanoTime() - readStart;
            tr.e1 = LagTrace.now();
            if (!page.isEmpty()) {
                wakeup.changesFound(page.changes().size(), unlock);
            }
            if (status.heldForResync(turn.resyncReason())) {
                status.beatIfDue(lc);
                wakeup.hold(lc);
                continue;
            }
            if (!page.isEmpty()) {
                columnCheck.verify(lc, pc, turn.signature());
            }
            boolean beatDue = pacing.heartbeatDue();
            if (hasWork(page, beatDue)) {
                Position relayFrom = relay.takeOver(page, pos); // a full page of inserts: relayed instead (RelayTurn)
                if (relayFrom != null) {
                    pos = relayFrom;
                    continue;
                }
                if (keep && !page.isEmpty()) {
                    // a writer that commits while the page applies notifies: its page is read meanwhile
                    Position from = page.next();
                    int syncId = sync.id;
                    nextTurn.start(lc, () -> turn.quick(lc, null, null, reader, syncId, from));
                }
                tr.a0 = LagTrace.now();
                Applied applied = applyPage(lc, pc, sync, page);
                tr.a1 = LagTrace.now();
                LocalTurn.Quick next = nextTurn.finish();
                // with the lock kept, a writer that committed while the page applied (or commits within the
                // active poll interval) has notified: the next turn comes at once (or came), with this page's
                // confirmation (checked once the read-ahead is over: the range is complete)
                boolean more = !page.rangeComplete() || !page.isEmpty() && (!keep || next != null || wakeup.wokenSoon(lc));
                if (applied.result().setAside > 0) {
                    status.peerSetAside(lc, pc, syncName, origin); // before the page's confirmation
                }
                confirm(lc, sync, page.next(), page.rangeComplete(), page.changes().size(), applied.result().horizon, more);
                if (!page.isEmpty() && LOG.isLoggable(Level.FINE)) { // where a catch-up spends its time
                    LOG.fine(logPrefix + PageTimings.describe(page.changes().size(), applied.result(), readNanos,
                            applied.waitedNanos(), clock.nanoTime() - readStart));
                }
                tr.page(page, applied.result());
                if (more) {
                    ahead = next;
                    pacing.steadyPause(page, applied.result().peerWrites);
                    continue;
                }
                // with the lock kept, what committed after the page's range notifies: no read to wait for it
            }
            idleTurn(lc, pc, sync, page, beatDue, freshRange);
        }
        return false;
    }

    /**
     * A turn that is not a plain read (the sync is gone, changed, paused, or the session's initial
     * step is not checked yet), in the statements of before: true when the sync was removed.
     */
    private boolean slowTurn(Connection lc, Connection pc, SyncState sync) throws SQLException, InterruptedException {
        if (definition.removedOrPushed(lc, pc, sync)) {
            return true;
        }
        if (sync.paused) {
            store.state(lc, LinkState.PAUSED, null); // beats the heartbeat too
            pacing.beat();
            wakeup.hold(lc);
            return false;
        }
        Position started = initialStep.runIfPending(lc, pc, pos, () -> status.beatIfDue(lc));
        if (started != null) {
            pos = started;
            confirmations.startAt(pos);
        }
        return false;
    }

    /** The next page after the position (opening a new snapshot range first if needed), in the turn's transaction. */
    private Page readPage(Connection lc, SyncState sync) throws SQLException {
        if (!pos.hasOpenRange()) {
            pos = pos.openRange(sync.snapshot);
        }
        Page ahead = readAhead.take(pos);
        return ahead != null ? ahead : reader.readOpen(lc, sync.id, pos);
    }

    /**
     * Whether the page goes to the peer: it has changes, or ends a range begun by earlier pages,
     * or (idle progress) an idle link's position moves at the peer now and then: the peer purges
     * its own queue only once it has everything this node committed (see mmsync._purge).
     */
    private boolean hasWork(Page page, boolean beatDue) {
        boolean idleProgress = page.isEmpty() && beatDue && confirmations.idleProgress(page.next());
        return !page.isEmpty() || !pos.lastId().equals(ChangeId.NONE) || idleProgress;
    }

    /** Applies the page at the peer (reading the next one meanwhile, if more of the range is queued). */
    private Applied applyPage(Connection lc, Connection pc, SyncState sync, Page page)
            throws SQLException, InterruptedException {
        if (!page.rangeComplete() && !relay.due(page.next())) {
            // more of this range is queued: read it while the peer applies this page (unless it is to be relayed)
            Position from = page.next();
            int syncId = sync.id;
            readAhead.start(from, () -> reader.read(lc, syncId, from));
        }
        Applier.Result result;
        try {
            result = applier.apply(pc, sync, origin, page);
        } catch (SQLException | RuntimeException e) {
            readAhead.discard(); // before anything else uses the local connection
            nextTurn.discard();
            if (e instanceof Applier.ConflictPendingException) {
                store.pauseSync(lc);
            }
            throw e;
        }
        long applyEnd = clock.nanoTime();
        readAhead.finish();
        return new Applied(result, clock.nanoTime() - applyEnd);
    }

    /** After the peer committed the page: the position is confirmed here, marked and purged when due. */
    private void confirm(Connection lc, SyncState sync, Position next, boolean complete, int changes, PeerHorizon horizon,
                         boolean more) throws SQLException {
        // a purge mark (and the purge) at most every Pacing.MARK_INTERVAL while pages keep coming (BUSY_MARK_INTERVAL
        // under a busy one-way stream)
        boolean marked = confirmations.pageApplied(lc, next, complete, changes, horizon, more);
        retries.working();
        pacing.beat();
        pos = next;
        if (marked) {
            purger.purge(lc, sync.id, true);
        }
    }

    /**
     * A page relayed as COPY text ({@link RelayTurn}): the turn's reads (the resync mark, the column
     * signature), the relay and the confirmation; a page the relay gives back is read the plain way
     * at the next turn.
     */
    private void relayTurn(Connection lc, Connection pc, SyncState sync, CopyRelay.Rows rows) throws SQLException {
        boolean unlock = wakeup.holding();
        turn.end(lc, true, unlock ? wakeup.lockedSyncId() : null);
        wakeup.changesFound(rows.window(), unlock);
        if (status.heldForResync(turn.resyncReason())) {
            status.beatIfDue(lc);
            wakeup.hold(lc);
            return;
        }
        columnCheck.verify(lc, pc, turn.signature());
        CopyRelay.Relayed r = relay.relay(lc, pc, syncName, origin, rows, pos);
        if (r != null) {
            confirm(lc, sync, r.next(), !r.next().hasOpenRange(), (int) r.rows(), r.horizon(), true);
        }
    }

    /**
     * Nothing (more) to send: the purge mark put off after the last page, set-aside retries and
     * purges when due, the heartbeat, then a wait for new changes (see {@link Wakeup}).
     */
    private void idleTurn(Connection lc, Connection pc, SyncState sync, Page page, boolean beatDue, boolean freshRange)
            throws SQLException {
        pos = page.next();
        pacing.idle();
        // a confirmation or purge mark put off after the last page, before the link waits
        boolean marked = confirmations.beforeIdle(lc, pc, beatDue);
        retries.working();
        if (beatDue) {
            applier.retrySetAside(pc, sync, origin);
            status.peerSetAside(lc, pc, syncName, origin);
        }
        if (marked || beatDue || purger.behind()) {
            // a big purge goes on at every turn, a bounded step at a time
            purger.purge(lc, sync.id, wakeup.busy());
        }
        status.beatIfDue(lc);
        if (purger.behind()) {
            wakeup.soon(lc); // more to purge: the next turn (which reads first) comes soon
        } else {
            wakeup.nothingFound(lc, sync.id, freshRange);
        }
    }

    /** What applying a page did, and how long the link then waited for the page read meanwhile. */
    private record Applied(Applier.Result result, long waitedNanos) {
    }

    private void onFailure(Exception e) throws InterruptedException {
        Retries.Failure f = retries.failed(e);
        open.closeQuietly();
        status.recordError(f.kind() == ErrorPolicy.Kind.CONNECTION ? LinkState.DISCONNECTED : LinkState.ERROR,
                peer.nodeName() + ": " + f.message());
        Thread.sleep(f.delay().toMillis());
    }
}
