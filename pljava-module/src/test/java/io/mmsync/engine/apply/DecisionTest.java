package io.mmsync.engine.apply;

import io.mmsync.engine.apply.Decision.Dba;
import io.mmsync.engine.apply.Decision.Facts;
import io.mmsync.engine.apply.Decision.Result;
import io.mmsync.engine.apply.Decision.Winner;
import io.mmsync.engine.model.ConflictStrategy;
import io.mmsync.engine.model.Op;
import org.junit.jupiter.api.Test;

import java.sql.SQLException;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicInteger;

import static io.mmsync.engine.model.ConflictStrategy.ABORT;
import static io.mmsync.engine.model.ConflictStrategy.APPLY_REMOTE;
import static io.mmsync.engine.model.ConflictStrategy.KEEP_LOCAL;
import static io.mmsync.engine.model.ConflictStrategy.LATEST;
import static io.mmsync.engine.model.ConflictStrategy.PREFER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Who wins a conflict under each strategy (the pure rules; ConflictsIT shows both nodes keep the
 * same version on real servers). A change comes from green to blue ("here").
 */
class DecisionTest {
    private static final Instant EARLY = Instant.parse("2026-01-01T10:00:00Z");
    private static final Instant LATE = Instant.parse("2026-01-01T10:00:01Z");
    private static final Decision.Beaten NEVER = () -> false;

    private static Facts facts(ConflictStrategy s, String prefer, String origin, Op remote, Instant remoteAt,
                               Op local, Instant localAt, boolean asExpected, boolean delta, Dba dba) {
        return new Facts(s, prefer, origin, origin.equals("green") ? "blue" : "green", remote, remoteAt, local, localAt,
                asExpected, delta, dba);
    }

    private static Result latest(Instant remoteAt, Instant localAt, boolean asExpected, boolean delta) throws SQLException {
        return Decision.decide(facts(LATEST, null, "green", Op.UPDATE, remoteAt, Op.UPDATE, localAt, asExpected, delta, null),
                NEVER);
    }

    private static void assertConflict(Result r, Action action, Resolution resolution, Winner winner) {
        assertEquals(action, r.action(), "action");
        assertEquals(resolution, r.resolution(), "resolution");
        assertEquals(winner, r.winner(), "winner");
        assertTrue(r.isConflict());
    }

    @Test
    void latestTheLaterChangeWins() throws SQLException {
        assertConflict(latest(LATE, EARLY, false, false), Action.APPLY, Resolution.REMOTE_APPLIED, Winner.REMOTE);
        assertConflict(latest(EARLY, LATE, true, false), Action.SKIP, Resolution.LOCAL_KEPT, Winner.LOCAL);
        assertConflict(latest(EARLY, LATE, false, false), Action.SKIP, Resolution.LOCAL_KEPT, Winner.LOCAL);
    }

    @Test
    void latestAnOlderCompetitorTheChangeWasMadeOnIsNoConflict() throws SQLException {
        assertSame(Result.NO_CONFLICT, latest(LATE, EARLY, true, false));
        assertFalse(Result.NO_CONFLICT.isConflict());
        assertEquals(Action.APPLY, Result.NO_CONFLICT.action());
    }

    @Test
    void latestTiesGoToTheNodeWhoseNameSortsFirst() throws SQLException {
        // from green to blue: blue sorts first and keeps its version
        Result atBlue = Decision.decide(facts(LATEST, null, "green", Op.UPDATE, EARLY, Op.UPDATE, EARLY, false, false, null), NEVER);
        assertConflict(atBlue, Action.SKIP, Resolution.LOCAL_KEPT, Winner.LOCAL);
        // from blue to green: blue's change wins there too, so both keep blue's
        Result atGreen = Decision.decide(facts(LATEST, null, "blue", Op.UPDATE, EARLY, Op.UPDATE, EARLY, true, false, null), NEVER);
        assertSame(Result.NO_CONFLICT, atGreen);
        Result atGreenUnexpected = Decision.decide(facts(LATEST, null, "blue", Op.UPDATE, EARLY, Op.UPDATE, EARLY, false, false, null), NEVER);
        assertConflict(atGreenUnexpected, Action.APPLY, Resolution.REMOTE_APPLIED, Winner.REMOTE);
    }

    @Test
    void aLosingUpdateOfATableWithDeltaColumnsStillAddsItsDelta() throws SQLException {
        assertConflict(latest(EARLY, LATE, false, true), Action.DELTA_ONLY, Resolution.MERGED, Winner.LOCAL);
        // a winning one applies whole (its delta included)
        assertConflict(latest(LATE, EARLY, false, true), Action.APPLY, Resolution.REMOTE_APPLIED, Winner.REMOTE);
        // a losing delete has no delta to add
        Result delete = Decision.decide(facts(LATEST, null, "green", Op.DELETE, EARLY, Op.UPDATE, LATE, false, true, null), NEVER);
        assertConflict(delete, Action.SKIP, Resolution.LOCAL_KEPT, Winner.LOCAL);
        Result prefer = Decision.decide(facts(PREFER, "blue", "green", Op.UPDATE, EARLY, Op.UPDATE, LATE, true, true, null), NEVER);
        assertConflict(prefer, Action.DELTA_ONLY, Resolution.MERGED, Winner.LOCAL);
    }

    @Test
    void bothDeletedIsRecordedAsSkipped() throws SQLException {
        Result r = Decision.decide(facts(LATEST, null, "green", Op.DELETE, LATE, Op.DELETE, EARLY, false, false, null), NEVER);
        assertEquals(Action.APPLY, r.action());
        assertEquals(Resolution.SKIPPED, r.resolution());
        Result a = Decision.decide(facts(ABORT, null, "green", Op.DELETE, EARLY, Op.DELETE, LATE, false, false, null), NEVER);
        assertConflict(a, Action.SKIP, Resolution.SKIPPED, Winner.NONE);
        assertTrue(a.beatsOrigin());
    }

    @Test
    void preferThePreferredNodeWinsWhateverTheTimes() throws SQLException {
        for (ConflictStrategy s : new ConflictStrategy[] {PREFER, KEEP_LOCAL, APPLY_REMOTE}) {
            Result remote = Decision.decide(facts(s, "green", "green", Op.UPDATE, EARLY, Op.UPDATE, LATE, false, false, null), NEVER);
            assertConflict(remote, Action.APPLY, Resolution.REMOTE_APPLIED, Winner.REMOTE);
            assertFalse(remote.beatsOrigin(), s + ": the preferred origin is never beaten");
            Result local = Decision.decide(facts(s, "blue", "green", Op.UPDATE, LATE, Op.UPDATE, EARLY, false, false, null), NEVER);
            assertConflict(local, Action.SKIP, Resolution.LOCAL_KEPT, Winner.LOCAL);
            assertTrue(local.beatsOrigin(), s.sql());
        }
    }

    @Test
    void preferNoConflictWhenTheChangeWasMadeOnTheRowHereAndNotBeatenBefore() throws SQLException {
        AtomicInteger lookups = new AtomicInteger();
        Decision.Beaten counted = () -> {
            lookups.incrementAndGet();
            return false;
        };
        Facts seen = facts(PREFER, "blue", "green", Op.UPDATE, LATE, Op.UPDATE, EARLY, true, false, null);
        assertSame(Result.NO_CONFLICT, Decision.decide(seen, counted));
        assertEquals(1, lookups.get());
        // once a local change has beaten this origin on the row, its later changes conflict
        assertConflict(Decision.decide(seen, () -> true), Action.SKIP, Resolution.LOCAL_KEPT, Winner.LOCAL);
        // a competitor made after the change cannot have been seen by it: no lookup needed
        Facts newer = facts(PREFER, "blue", "green", Op.UPDATE, EARLY, Op.UPDATE, LATE, true, false, null);
        assertConflict(Decision.decide(newer, counted), Action.SKIP, Resolution.LOCAL_KEPT, Winner.LOCAL);
        assertEquals(1, lookups.get());
    }

    @Test
    void abortWaitsForTheDbaThenDoesWhatTheDbaDecided() throws SQLException {
        Result pending = Decision.decide(facts(ABORT, null, "green", Op.UPDATE, EARLY, Op.UPDATE, LATE, false, false, null), NEVER);
        assertConflict(pending, Action.PENDING, Resolution.PENDING, Winner.NONE);
        assertTrue(pending.beatsOrigin());

        Dba apply = new Dba(true, 41);
        Result applied = Decision.decide(facts(ABORT, null, "green", Op.UPDATE, EARLY, Op.UPDATE, LATE, false, true, apply), NEVER);
        assertEquals(Action.APPLY, applied.action());
        assertFalse(applied.isConflict(), "already recorded as pending; marked done through its id");
        assertEquals(41, applied.dba().conflictId());

        Dba skip = new Dba(false, 42);
        assertEquals(Action.SKIP, Decision.decide(facts(ABORT, null, "green", Op.UPDATE, EARLY, Op.UPDATE, LATE, false, false, skip),
                NEVER).action());
        assertEquals(Action.DELTA_ONLY, Decision.decide(facts(ABORT, null, "green", Op.UPDATE, EARLY, Op.UPDATE, LATE, false, true,
                skip), NEVER).action());
    }

    @Test
    void everyStrategyIsCovered() {
        // a new strategy needs its rules in Decision and its cases here
        assertEquals(5, ConflictStrategy.values().length);
    }
}
