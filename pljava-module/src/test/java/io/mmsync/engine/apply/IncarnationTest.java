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
 * The incarnation rule of delta columns under latest (two nodes): blue deletes a row (t1) and
 * inserts it again (t2) while green increments the old row (t3), in the three orders of t3. Both
 * nodes must end with the newest insert's value plus the deltas made after it: the increment
 * counts only when t3 &gt; t2. ApplyDeltaIT shows the values on real servers.
 */
class IncarnationTest {
    private static final Instant T1 = Instant.parse("2026-01-01T10:00:01Z");
    private static final Instant T2 = Instant.parse("2026-01-01T10:00:02Z");
    private static final Decision.Beaten NEVER = () -> false;

    /** A change from {@code origin} meeting the local change (localOp, localAt) at the other node. */
    private static Result at(String origin, Op remote, Instant remoteAt, Op local, Instant localAt, boolean asExpected,
                             Instant localInsertAt) throws SQLException {
        String here = origin.equals("green") ? "blue" : "green";
        return Decision.decide(new Facts(ConflictStrategy.LATEST, null, origin, here, remote, remoteAt, local, localAt,
                asExpected, true, null, new Incarnation(localInsertAt)), NEVER);
    }

    private static void assertResult(Result r, Action action, Resolution resolution, Winner winner) {
        assertEquals(action, r.action(), "action");
        assertEquals(resolution, r.resolution(), "resolution");
        assertEquals(winner, r.winner(), "winner");
    }

    @Test
    void incrementAfterTheReinsertCountsOnTheNewRow() throws SQLException {
        Instant t3 = Instant.parse("2026-01-01T10:00:03Z");
        // blue: green's update wins over the re-inserted row and adds its delta (0 + 1)
        assertResult(at("green", Op.UPDATE, t3, Op.INSERT, T2, false, T2), Action.APPLY, Resolution.REMOTE_APPLIED,
                Winner.REMOTE);
        // green: blue's delete wins over green's concurrent update (remove wins); blue's insert loses
        // the other columns, but its incarnation is newer than green's row: delta columns become the
        // insert's plus green's later deltas (0 + 1), whether the insert finds the row gone (a later
        // page) or still here (the delete in the same page)
        assertResult(at("blue", Op.DELETE, T1, Op.UPDATE, t3, false, null), Action.APPLY, Resolution.REMOTE_APPLIED,
                Winner.REMOTE);
        assertResult(at("blue", Op.INSERT, T2, Op.UPDATE, t3, true, null), Action.REBASE, Resolution.MERGED, Winner.LOCAL);
        assertResult(at("blue", Op.INSERT, T2, Op.UPDATE, t3, false, null), Action.REBASE, Resolution.MERGED, Winner.LOCAL);
    }

    @Test
    void incrementBeforeTheDeleteIsGoneWithTheOldRow() throws SQLException {
        Instant t3 = Instant.parse("2026-01-01T10:00:00Z");
        // blue: the update was made before blue's insert: its delta is not added (it used to be: 1)
        assertResult(at("green", Op.UPDATE, t3, Op.INSERT, T2, false, T2), Action.SKIP, Resolution.LOCAL_KEPT, Winner.LOCAL);
        // green: the delete wins, then the insert meets no row: no conflict (0)
        assertResult(at("blue", Op.DELETE, T1, Op.UPDATE, t3, false, null), Action.APPLY, Resolution.REMOTE_APPLIED,
                Winner.REMOTE);
        assertSame(Result.NO_CONFLICT, at("blue", Op.INSERT, T2, Op.UPDATE, t3, true, null));
    }

    @Test
    void incrementBetweenDeleteAndInsertIsGoneWithTheOldRow() throws SQLException {
        Instant t3 = Instant.parse("2026-01-01T10:00:01.5Z");
        assertResult(at("green", Op.UPDATE, t3, Op.INSERT, T2, false, T2), Action.SKIP, Resolution.LOCAL_KEPT, Winner.LOCAL);
        // green: the delete wins (remove wins); the insert then meets no row: no conflict (0), or,
        // in the same page, wins over the row the delete removes: the insert's row (0)
        assertResult(at("blue", Op.DELETE, T1, Op.UPDATE, t3, false, null), Action.APPLY, Resolution.REMOTE_APPLIED,
                Winner.REMOTE);
        assertSame(Result.NO_CONFLICT, at("blue", Op.INSERT, T2, Op.UPDATE, t3, true, null));
        assertResult(at("blue", Op.INSERT, T2, Op.UPDATE, t3, false, null), Action.REBASE, Resolution.REMOTE_APPLIED,
                Winner.REMOTE);
    }

    @Test
    void anOlderInsertLosesToANewerLocalInsertWhole() throws SQLException {
        Instant t3 = Instant.parse("2026-01-01T10:00:03Z");
        assertResult(at("blue", Op.INSERT, T2, Op.INSERT, t3, false, t3), Action.SKIP, Resolution.LOCAL_KEPT, Winner.LOCAL);
        // and an update made after that newer insert still adds its delta
        Instant t4 = Instant.parse("2026-01-01T10:00:04Z");
        assertResult(at("blue", Op.UPDATE, t3.plusMillis(1), Op.UPDATE, t4, false, t3), Action.DELTA_ONLY,
                Resolution.MERGED, Winner.LOCAL);
    }

    @Test
    void withoutTheRuleNothingChanges() throws SQLException {
        Instant t3 = Instant.parse("2026-01-01T10:00:00Z");
        Result r = Decision.decide(new Facts(ConflictStrategy.LATEST, null, "green", "blue", Op.UPDATE, t3, Op.INSERT, T2,
                false, true, null), NEVER);
        assertResult(r, Action.DELTA_ONLY, Resolution.MERGED, Winner.LOCAL);
    }
}
