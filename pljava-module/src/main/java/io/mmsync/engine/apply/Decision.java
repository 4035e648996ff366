package io.mmsync.engine.apply;

import io.mmsync.engine.model.ConflictStrategy;
import io.mmsync.engine.model.Op;

import java.sql.SQLException;
import java.time.Instant;
import java.util.Objects;

/**
 * Who wins between an incoming change and the peer's own queued change of the same row (its
 * competitor), under each {@link ConflictStrategy}: a pure function of the facts the
 * {@link Resolver} gathered at the peer, so that the rules are tested without a database
 * (DecisionTest).
 * <ul>
 * <li>latest: the change made later wins, ties go to the node whose name sorts first; both nodes
 * compare the same two times, so both keep the same version. An older competitor the incoming
 * change was made on (the peer's row is the one it expected) is no conflict.</li>
 * <li>prefer, keep_local, apply_remote: the preferred node's version wins when the peer's row is
 * not the one the incoming change was made on, or the competitor is newer, or a local change has
 * already beaten this origin on that row (the origin's later changes then build on the losing
 * version).</li>
 * <li>abort: such a conflict waits for the DBA's decision ({@link Dba}); both sides deleting the
 * row is no conflict to decide.</li>
 * </ul>
 * Delta columns are never in conflict: a losing update still adds its delta ({@link Action#DELTA_ONLY}).
 */
final class Decision {
    /** Whose version a recorded conflict keeps: its winning and losing rows follow from it. */
    enum Winner {
        /** the incoming change's version (winning: its new row; losing: the peer's row) */
        REMOTE,
        /** the peer's version (winning: the peer's row; losing: the change's row) */
        LOCAL,
        /** nobody yet, or nothing to keep (winning: none; losing: the peer's row) */
        NONE
    }

    /** Whether a local change already beat this origin on the row (looked up only when needed). */
    interface Beaten {
        boolean test() throws SQLException;
    }

    /** The DBA's decision on a pending conflict (mmsync.resolve_conflict): apply or skip the change. */
    record Dba(boolean apply, long conflictId) {
    }

    /**
     * The facts of one conflict candidate. {@code origin}: the node the change comes from;
     * {@code here}: the peer's node name; {@code asExpected}: the peer's row is the one the change
     * was made on (for an insert: there is none); {@code hasDelta}: the table has delta columns;
     * {@code dba}: the DBA's decision, if any (abort only).
     */
    record Facts(ConflictStrategy strategy, String prefer, String origin, String here, Op remoteOp, Instant remoteAt,
                 Op localOp, Instant localAt, boolean asExpected, boolean hasDelta, Dba dba, Incarnation incarnation) {
        Facts {
            Objects.requireNonNull(strategy, "strategy");
            Objects.requireNonNull(remoteOp, "remoteOp");
        }

        /** Facts without the incarnation rule of delta columns (see {@link Incarnation}). */
        Facts(ConflictStrategy strategy, String prefer, String origin, String here, Op remoteOp, Instant remoteAt,
              Op localOp, Instant localAt, boolean asExpected, boolean hasDelta, Dba dba) {
            this(strategy, prefer, origin, here, remoteOp, remoteAt, localOp, localAt, asExpected, hasDelta, dba, null);
        }
    }

    /**
     * The incarnation rule of delta columns under latest, for two-node syncs (docs/conflicts.md
     * "Additive (delta) columns"): a row's delta column is the value of its newest insert plus the
     * deltas of the updates made after that insert (by the clock); and a delete wins over every
     * update concurrent with it ("remove wins"), while a re-insert newer than the delete brings the
     * row back. {@code localInsertAt}: when this node last inserted the row (its newest queued insert
     * of the key), or null; {@code rowHere}: the row exists here when the change is applied (it is
     * here now, or an earlier change of the same page inserts it).
     */
    record Incarnation(Instant localInsertAt, boolean rowHere) {
        /** The row is here (the facts of a change that does not depend on it). */
        Incarnation(Instant localInsertAt) {
            this(localInsertAt, true);
        }
    }

    /**
     * The decision: what to do with the change, and, unless {@link #isConflict()} is false, how the
     * conflict is recorded. {@code beatsOrigin}: the local change now counts as having beaten the
     * origin on this row; {@code dba}: the DBA decision used (its conflict row is marked done).
     */
    record Result(Action action, Resolution resolution, Winner winner, boolean beatsOrigin, Dba dba) {
        static final Result NO_CONFLICT = new Result(Action.APPLY, null, Winner.REMOTE, false, null);

        /** Whether a conflict is to be recorded in mmsync.conflicts (a DBA decision is recorded already). */
        boolean isConflict() {
            return resolution != null;
        }
    }

    private Decision() {
    }

    static Result decide(Facts f, Beaten beaten) throws SQLException {
        if (f.strategy() == ConflictStrategy.LATEST) {
            int cmp = f.remoteAt().compareTo(f.localAt());
            boolean remoteWins = cmp > 0 || (cmp == 0 && f.origin().compareTo(f.here()) < 0);
            if (remoteWins && f.asExpected()) {
                return Result.NO_CONFLICT; // the competitor is older and was seen by the origin
            }
            if (f.incarnation() != null && f.hasDelta()) {
                Result r = incarnation(f, remoteWins);
                if (r != null) {
                    return r;
                }
            }
            return settle(f, remoteWins, false);
        }
        // a competitor made after the incoming change cannot have been seen by it; and once a
        // local change has beaten a change of this origin, the origin's later changes of that
        // row build on the losing version (e.g. a re-insert after its own delete)
        if (f.asExpected() && !f.localAt().isAfter(f.remoteAt()) && !beaten.test()) {
            return Result.NO_CONFLICT;
        }
        boolean beatsOrigin = !f.origin().equals(f.prefer()) || f.strategy() == ConflictStrategy.ABORT;
        if (f.strategy() == ConflictStrategy.ABORT) {
            if (f.remoteOp() == Op.DELETE && f.localOp() == Op.DELETE) {
                // both deleted the row: nothing to decide, nothing lost
                return new Result(Action.SKIP, Resolution.SKIPPED, Winner.NONE, beatsOrigin, null);
            }
            if (f.dba() == null) {
                return new Result(Action.PENDING, Resolution.PENDING, Winner.NONE, beatsOrigin, null);
            }
            boolean apply = f.dba().apply();
            Action a = apply ? Action.APPLY : deltaOnly(f) ? Action.DELTA_ONLY : Action.SKIP;
            return new Result(a, null, apply ? Winner.REMOTE : Winner.LOCAL, beatsOrigin, f.dba());
        }
        return settle(f, f.origin().equals(f.prefer()), beatsOrigin);
    }

    /**
     * The incarnation rule (see {@link Incarnation}), or null where it changes nothing. An update
     * made before this node's newer insert of the row belongs to an incarnation that insert
     * replaced: its delta is not added. An incoming insert meeting a row here starts a newer
     * incarnation unless this node inserted the row later: whoever wins the other columns, the
     * row's delta columns become the insert's plus this node's deltas made after it
     * ({@link Action#REBASE}, made concrete by the Resolver). Remove wins: a delete beats every
     * update concurrent with it (an incoming delete beats a local update unless this node inserted
     * the row again later; an incoming update of a row deleted here is dropped).
     */
    private static Result incarnation(Facts f, boolean remoteWins) {
        Instant ins = f.incarnation().localInsertAt();
        boolean insertedLater = ins != null && RowVersions.greater(ins, f.here(), f.remoteAt(), f.origin());
        if (f.remoteOp() == Op.DELETE && f.localOp() == Op.UPDATE && !insertedLater) {
            // remove wins: the local update was made without having seen the delete, so it is
            // concurrent with it, whatever the clock says; only a newer local re-insert keeps the row
            return new Result(Action.APPLY, Resolution.REMOTE_APPLIED, Winner.REMOTE, false, null);
        }
        if (f.remoteOp() == Op.UPDATE && !f.incarnation().rowHere() && f.localOp() == Op.DELETE) {
            // remove wins: an update of a row this node deleted (and has not inserted again) does not
            // bring it back; the peer applies this node's delete whatever the times
            return new Result(Action.SKIP, Resolution.LOCAL_KEPT, Winner.LOCAL, false, null);
        }
        if (f.remoteOp() == Op.UPDATE && !remoteWins && insertedLater) {
            return new Result(Action.SKIP, Resolution.LOCAL_KEPT, Winner.LOCAL, false, null);
        }
        if (f.remoteOp() == Op.INSERT && f.asExpected() && f.localOp() == Op.UPDATE && !remoteWins && !insertedLater) {
            // the row was here, updated by this node after the insert's time, then removed by the
            // origin's delete (remove wins): the insert's incarnation gets this node's later deltas,
            // the other columns of the newer local update ({@link Action#REBASE} on that image)
            return new Result(Action.REBASE, Resolution.MERGED, Winner.LOCAL, false, null);
        }
        if (f.remoteOp() == Op.INSERT && !f.asExpected() && !insertedLater) {
            return new Result(Action.REBASE, remoteWins ? Resolution.REMOTE_APPLIED : Resolution.MERGED,
                    remoteWins ? Winner.REMOTE : Winner.LOCAL, false, null);
        }
        return null;
    }

    private static Result settle(Facts f, boolean remoteWins, boolean beatsOrigin) {
        Resolution r;
        Action a;
        if (remoteWins) {
            r = Resolution.REMOTE_APPLIED;
            a = Action.APPLY;
        } else if (deltaOnly(f)) {
            r = Resolution.MERGED;
            a = Action.DELTA_ONLY;
        } else {
            r = Resolution.LOCAL_KEPT;
            a = Action.SKIP;
        }
        if (f.remoteOp() == Op.DELETE && f.localOp() == Op.DELETE) {
            r = Resolution.SKIPPED; // both deleted the row: recorded, nothing lost
        }
        return new Result(a, r, remoteWins ? Winner.REMOTE : Winner.LOCAL, beatsOrigin, null);
    }

    /** A losing update of a table with delta columns still adds its deltas. */
    private static boolean deltaOnly(Facts f) {
        return f.remoteOp() == Op.UPDATE && f.hasDelta();
    }
}
