package io.mmsync.engine.apply;

import io.mmsync.engine.apply.Decision.Facts;
import io.mmsync.engine.apply.Decision.Incarnation;
import io.mmsync.engine.apply.Decision.Result;
import io.mmsync.engine.apply.Decision.Winner;
import io.mmsync.engine.model.ConflictStrategy;
import io.mmsync.engine.model.Op;
import org.junit.jupiter.api.Test;

import java.sql.SQLException;
import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * "Remove wins" for tables with delta columns under latest (two nodes, docs/conflicts.md "Additive
 * (delta) columns"): a delete wins over every update concurrent with it, whatever the clock says; only
 * a re-insert newer than the delete brings the row back. Each case is decided at both nodes, in the
 * order the changes reach them; both must end the same. Tables without delta columns keep latest.
 */
class RemoveWinsTest {
    private static final Instant T1 = Instant.parse("2026-01-01T10:00:01Z");
    private static final Instant T2 = Instant.parse("2026-01-01T10:00:02Z");
    private static final Instant T3 = Instant.parse("2026-01-01T10:00:03Z");
    private static final Instant T4 = Instant.parse("2026-01-01T10:00:04Z");
    private static final Decision.Beaten NEVER = () -> false;

    /** A change from {@code origin} meeting the local change (local, localAt) at the other node. */
    private static Result at(String origin, Op remote, Instant remoteAt, Op local, Instant localAt, boolean asExpected,
                             Instant localInsertAt, boolean rowHere, boolean delta) throws SQLException {
        String here = origin.equals("green") ? "blue" : "green";
        return Decision.decide(new Facts(ConflictStrategy.LATEST, null, origin, here, remote, remoteAt, local, localAt,
                asExpected, delta, null, new Incarnation(localInsertAt, rowHere)), NEVER);
    }

    private static void assertResult(Result r, Action action, Resolution resolution, Winner winner) {
        assertEquals(action, r.action(), "action");
        assertEquals(resolution, r.resolution(), "resolution");
        assertEquals(winner, r.winner(), "winner");
    }

    @Test
    void aDeleteWinsOverANewerUpdateOnBothNodes() throws SQLException {
        // blue: +1 (t1), delete (t2); green: +5 (t3), made before blue's changes reached it
        // green: blue's +1 loses the other columns but adds its delta; blue's delete wins (was: kept v+6)
        assertResult(at("blue", Op.UPDATE, T1, Op.UPDATE, T3, false, null, true, true), Action.DELTA_ONLY,
                Resolution.MERGED, Winner.LOCAL);
        assertResult(at("blue", Op.DELETE, T2, Op.UPDATE, T3, false, null, true, true), Action.APPLY,
                Resolution.REMOTE_APPLIED, Winner.REMOTE);
        // blue: green's update finds the row deleted here: dropped (was: the row came back with v+5)
        assertResult(at("green", Op.UPDATE, T3, Op.DELETE, T2, false, null, false, true), Action.SKIP,
                Resolution.LOCAL_KEPT, Winner.LOCAL);
    }

    @Test
    void anOlderUpdateStillLosesToTheDelete() throws SQLException {
        // blue deletes (t3), green updated at t1
        assertResult(at("blue", Op.DELETE, T3, Op.UPDATE, T1, false, null, true, true), Action.APPLY,
                Resolution.REMOTE_APPLIED, Winner.REMOTE);
        assertResult(at("green", Op.UPDATE, T1, Op.DELETE, T3, false, null, false, true), Action.SKIP,
                Resolution.LOCAL_KEPT, Winner.LOCAL);
    }

    @Test
    void aNewerLocalReinsertKeepsTheRow() throws SQLException {
        // green deletes (t1); blue deleted (t0), inserted again (t2) and updated (t3): blue's
        // incarnation is newer than green's delete
        assertResult(at("green", Op.DELETE, T1, Op.UPDATE, T3, false, T2, true, true), Action.SKIP,
                Resolution.LOCAL_KEPT, Winner.LOCAL);
        assertResult(at("green", Op.DELETE, T1, Op.INSERT, T2, false, T2, true, true), Action.SKIP,
                Resolution.LOCAL_KEPT, Winner.LOCAL);
        // a local insert older than the delete does not keep it
        assertResult(at("green", Op.DELETE, T3, Op.UPDATE, T4, false, T2, true, true), Action.APPLY,
                Resolution.REMOTE_APPLIED, Winner.REMOTE);
    }

    @Test
    void anUpdateAfterAReinsertInTheSamePageIsApplied() throws SQLException {
        // blue deleted (t1); green deleted (t2), inserted again (t3), updated (t4); the page brings
        // the insert and the update: the insert wins over the delete, the update then finds the row
        assertSame(Result.NO_CONFLICT, at("green", Op.INSERT, T3, Op.DELETE, T1, true, null, false, true));
        assertResult(at("green", Op.UPDATE, T4, Op.DELETE, T1, false, null, true, true), Action.APPLY,
                Resolution.REMOTE_APPLIED, Winner.REMOTE);
        // the same update a later page finds the row here (the insert applied): an older local
        // delete is no conflict the origin had not seen
        assertSame(Result.NO_CONFLICT, at("green", Op.UPDATE, T4, Op.DELETE, T1, true, null, true, true));
    }

    @Test
    void aReinsertOlderThanALocalDeleteStaysDeleted() throws SQLException {
        // green deleted and re-inserted (t1, t2) and updated (t4); blue deleted at t3 (green's row)
        // blue: green's insert loses to the newer delete; green's update then finds no row: dropped
        assertResult(at("green", Op.INSERT, T2, Op.DELETE, T3, true, null, false, true), Action.SKIP,
                Resolution.LOCAL_KEPT, Winner.LOCAL);
        assertResult(at("green", Op.UPDATE, T4, Op.DELETE, T3, false, null, false, true), Action.SKIP,
                Resolution.LOCAL_KEPT, Winner.LOCAL);
        // green: blue's delete wins over green's newer update of an incarnation older than the delete
        assertResult(at("blue", Op.DELETE, T3, Op.UPDATE, T4, false, T2, true, true), Action.APPLY,
                Resolution.REMOTE_APPLIED, Winner.REMOTE);
    }

    @Test
    void deletesOnBothSidesAreNoLoss() throws SQLException {
        assertResult(at("blue", Op.DELETE, T1, Op.DELETE, T2, false, null, false, true), Action.SKIP,
                Resolution.SKIPPED, Winner.LOCAL);
        assertResult(at("green", Op.DELETE, T2, Op.DELETE, T1, false, null, false, true), Action.APPLY,
                Resolution.SKIPPED, Winner.REMOTE);
    }

    @Test
    void withoutDeltaColumnsANewerUpdateBeatsTheDelete() throws SQLException {
        assertResult(at("blue", Op.DELETE, T2, Op.UPDATE, T3, false, null, true, false), Action.SKIP,
                Resolution.LOCAL_KEPT, Winner.LOCAL);
        assertResult(at("green", Op.UPDATE, T3, Op.DELETE, T2, false, null, false, false), Action.APPLY,
                Resolution.REMOTE_APPLIED, Winner.REMOTE);
    }
}
