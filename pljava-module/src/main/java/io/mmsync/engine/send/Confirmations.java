package io.mmsync.engine.send;

import io.mmsync.engine.model.PeerHorizon;
import io.mmsync.engine.model.Position;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.Objects;

/**
 * A link's confirmations of what the peer applied, written to the local mmsync.links: at once, or
 * put off to the next turn's first request while pages keep coming ({@link LinkStore.Confirm}),
 * with a purge mark (the peer's horizon) at most every {@link Pacing} mark interval. One per link,
 * used by the link's thread only.
 */
final class Confirmations {
    private final LinkStore store;
    private final Pacing pacing;
    /** the range start the peer has stored (idle progress moves it, see {@link #idleProgress}) */
    private String storedLo;
    /** this session's confirmation of its last page, put off to the next turn */
    private LinkStore.Confirm later;
    /** a position applied at the peer whose purge mark was put off */
    private Position unmarked;

    Confirmations(LinkStore store, Pacing pacing) {
        this.store = store;
        this.pacing = pacing;
    }

    /** A new session (or an initial step) starts from the peer's stored position. */
    void startAt(Position peerPosition) {
        storedLo = peerPosition.lo();
        later = null;
    }

    /** The confirmation put off to this turn (null if none); the turn's first request carries it. */
    LinkStore.Confirm pending() {
        return later;
    }

    /** The turn's first request carried {@link #pending()}. */
    void sent() {
        later = null;
    }

    /** An empty page whose range start moved since the peer last stored one: worth sending as idle progress. */
    boolean idleProgress(Position next) {
        return !Objects.equals(next.lo(), storedLo);
    }

    /**
     * After the peer committed a page ending at {@code next}: confirmed at once, or put off when
     * more pages come ({@code more}) and no purge mark is due; true when a purge mark was written
     * (the caller purges then).
     */
    boolean pageApplied(Connection lc, Position next, boolean complete, int changes, PeerHorizon horizon, boolean more)
            throws SQLException {
        storedLo = next.lo();
        // the mark's horizon is the peer's snapshot right after the apply committed (same request)
        boolean mark = complete && pacing.markDue();
        // a confirmation still put off (the turn after it was read ahead, without it) goes with this one
        long count = changes + (later == null ? 0 : later.applied());
        later = null;
        if (more && !mark && next.lo() != null) {
            later = store.later(next, count); // with the next turn's first request
        } else {
            store.confirmed(lc, next, (int) count, mark ? horizon : null);
        }
        unmarked = complete && !mark ? next : null;
        if (mark) {
            pacing.marked();
        }
        return mark;
    }

    /**
     * Before the link goes idle: a put-off confirmation written, and the put-off purge mark when
     * due ({@code beatDue} or the mark interval) with the peer's current snapshot; true when marked.
     */
    boolean beforeIdle(Connection lc, Connection pc, boolean beatDue) throws SQLException {
        if (later != null) {
            // put off by a page whose next turn was read ahead and found nothing
            store.confirm(lc, later);
            later = null;
        }
        boolean marked = unmarked != null && (beatDue || pacing.markDue());
        if (marked) {
            // a later peer snapshot than the page's own only holds the queue longer
            store.confirmed(lc, unmarked, 0, PeerStore.snapshot(pc));
            unmarked = null;
            pacing.marked();
        }
        return marked;
    }
}
