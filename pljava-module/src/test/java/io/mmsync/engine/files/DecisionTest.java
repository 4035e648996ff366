package io.mmsync.engine.files;

import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** What a node does with a peer's record of a file (issue 16): the cases of {@link Decision}. */
class DecisionTest {
    private static final String A = "a".repeat(64);
    private static final String B = "b".repeat(64);
    private static final String C = "c".repeat(64);
    private static final Instant T = Instant.parse("2026-12-06T10:00:00Z");

    private static FileEntry file(String hash, String origin, Instant at, String agreed) {
        return new FileEntry("p/x.bin", hash, List.of(hash), 1, 0644, 1, false, origin, at, agreed, 1);
    }

    @Test
    void newFileFromThePeerIsApplied() {
        assertEquals(Decision.APPLY, Decision.decide(null, file(A, "blue", T, null), "green", "latest", null));
    }

    @Test
    void sameContentIsAnAgreementOnce() {
        assertEquals(Decision.AGREE, Decision.decide(file(A, "green", T, null), file(A, "blue", T, null), "green", "latest", null));
        assertEquals(Decision.IGNORE, Decision.decide(file(A, "green", T, A), file(A, "blue", T, null), "green", "latest", null));
    }

    @Test
    void ownChangeComingBackIsIgnored() {
        // green made B, blue took it; green since changed to C: blue's record of B is green's old change
        assertEquals(Decision.IGNORE, Decision.decide(file(C, "green", T, A), file(B, "green", T, A), "green", "latest", null));
    }

    @Test
    void peerChangeOfAnUnchangedFileIsApplied() {
        assertEquals(Decision.APPLY, Decision.decide(file(A, "blue", T, A), file(B, "blue", T.plusSeconds(1), A), "green", "latest", null));
    }

    @Test
    void peerStillAtTheAgreedVersionIsIgnored() {
        assertEquals(Decision.IGNORE, Decision.decide(file(B, "green", T, A), file(A, "blue", T, A), "green", "latest", null));
    }

    @Test
    void changeOnBothSidesIsAConflictDecidedTheSameWayOnBothNodes() {
        FileEntry onGreen = file(B, "green", T, A);
        FileEntry onBlue = file(C, "blue", T.plusSeconds(5), A);
        assertEquals(Decision.CONFLICT_TAKE_REMOTE, Decision.decide(onGreen, onBlue, "green", "latest", null), "green takes blue's later one");
        assertEquals(Decision.CONFLICT_KEEP_LOCAL, Decision.decide(onBlue, onGreen, "blue", "latest", null), "blue keeps its own");
        assertEquals(Decision.CONFLICT_KEEP_LOCAL, Decision.decide(onGreen, onBlue, "green", "prefer", "green"));
        assertEquals(Decision.CONFLICT_TAKE_REMOTE, Decision.decide(onBlue, onGreen, "blue", "prefer", "green"));
        // keep_local set on green and apply_remote set on blue both mean: green's version wins (prefer = green on both nodes)
        assertEquals(Decision.CONFLICT_KEEP_LOCAL, Decision.decide(onGreen, onBlue, "green", "keep_local", "green"));
        assertEquals(Decision.CONFLICT_TAKE_REMOTE, Decision.decide(onBlue, onGreen, "blue", "apply_remote", "green"));
        assertEquals(Decision.CONFLICT_TAKE_REMOTE, Decision.decide(onGreen, onBlue, "green", "abort", null), "abort: the later one");
    }

    @Test
    void sameInstantOnBothSidesGoesToTheNodeWhoseNameSortsFirst() {
        FileEntry onGreen = file(B, "green", T, A);
        FileEntry onBlue = file(C, "blue", T, A);
        assertEquals(Decision.CONFLICT_TAKE_REMOTE, Decision.decide(onGreen, onBlue, "green", "latest", null));
        assertEquals(Decision.CONFLICT_KEEP_LOCAL, Decision.decide(onBlue, onGreen, "blue", "latest", null));
    }

    @Test
    void deletionAgainstChangeFollowsTheStrategy() {
        FileEntry changedHere = file(B, "green", T, A);
        FileEntry deletedThere = FileEntry.deletion("p/x.bin", "blue", T.plusSeconds(1), A);
        assertEquals(Decision.CONFLICT_TAKE_REMOTE, Decision.decide(changedHere, deletedThere, "green", "latest", null));
        assertEquals(Decision.APPLY, Decision.decide(file(A, "green", T, A), deletedThere, "green", "latest", null));
        assertEquals(Decision.IGNORE, Decision.decide(null, deletedThere, "green", "latest", null));
    }

    @Test
    void conflictCopyNamesLikeSyncthing() {
        assertEquals("p/x.sync-conflict-20261206-100000-green.bin", Decision.conflictCopy("p/x.bin", T, "green"));
        assertEquals("README.sync-conflict-20261206-100000-blue", Decision.conflictCopy("README", T, "blue"));
        assertEquals("a/.env.sync-conflict-20261206-100000-blue", Decision.conflictCopy("a/.env", T, "blue"));
    }
}
