package io.mmsync.health;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The rules of each health path, without I/O: every case the docs describe. */
@Timeout(10)
class VerdictsTest {
    private static final Instant NOW = Instant.parse("2026-01-01T12:00:00Z");
    private static final HealthConfig CFG = HealthConfig.builder().port(0).build();
    private static final Verdicts V = new Verdicts(CFG);
    private static final LocalState BLUE = new LocalState(null, "blue", false, false, null, null, List.of());
    private static final Ask LAG_1S = Ask.of(Lag.ofSeconds(1));

    private static PeerSample answer(double agoSeconds, long backlogToMe, double lagToMe, long ourBacklog, double ourLag) {
        return new PeerSample(NOW.minusMillis((long) (agoSeconds * 1000)), null, "green", false, false, backlogToMe, lagToMe,
                false, 0.5, true, ourBacklog, ourLag, false);
    }

    private static PeerSample unreachable(double agoSeconds) {
        return new PeerSample(NOW.minusMillis((long) (agoSeconds * 1000)), "Connection refused", null, false, false, 0, 0,
                false, null, true, 0, 0, false);
    }

    /** A history of green with the given samples, oldest first. */
    private static Map<String, PeerHistory> green(PeerSample... oldestFirst) {
        PeerHistory h = new PeerHistory("green");
        for (PeerSample s : oldestFirst) {
            h.add(s);
        }
        return Map.of("green", h);
    }

    private static LocalState primary(String node) {
        return new LocalState(null, "blue", false, false, node, null, List.of());
    }

    @Test
    void readyWhenWritableAndThePeerHasNothingOrLittleForUs() {
        assertTrue(V.ready(BLUE, true, green(answer(0.1, 0, 0, 0, 0)), LAG_1S, NOW).ok());
        assertTrue(V.ready(BLUE, true, green(answer(0.1, 40, 0.9, 0, 0)), LAG_1S, NOW).ok(), "0.9 s old is within lag=1s");
        Verdict old = V.ready(BLUE, true, green(answer(0.1, 40, 1.5, 0, 0)), LAG_1S, NOW);
        assertFalse(old.ok());
        assertEquals("peer green still has 40 changes to send here, the oldest 1.5 s old (lag=1s)", old.reason());
        assertEquals(40L, old.facts().get("peer_backlog"));
        assertTrue(V.ready(BLUE, true, green(answer(0.1, 40, 100, 0, 0)), Ask.of(Lag.ofChanges(40)), NOW).ok());
        assertFalse(V.ready(BLUE, true, green(answer(0.1, 41, 0, 0, 0)), Ask.of(Lag.ofChanges(40)), NOW).ok());
    }

    @Test
    void changesWaitingOnALinkThatIsDownAreNeverWithinTheLag() {
        PeerSample linkDown = new PeerSample(NOW.minusMillis(100), null, "green", false, false, 3, 0.2, true, 0.5, true, 0, 0,
                false);
        Verdict v = V.ready(BLUE, true, green(linkDown), LAG_1S, NOW);
        assertFalse(v.ok(), "a node back from a short outage waits for the peer's link, however young the changes");
        assertEquals("peer green has 3 changes for this node, and its link here is down", v.reason());
        PeerSample nothingWaiting = new PeerSample(NOW.minusMillis(100), null, "green", false, false, 0, 0, true, 0.5, true,
                0, 0, false);
        assertTrue(V.ready(BLUE, true, green(nothingWaiting), LAG_1S, NOW).ok(), "nothing waits, so nothing is missing");
        PeerSample ourLinkDown = new PeerSample(NOW.minusMillis(100), null, "green", false, false, 0, 0, false, 0.5, true, 2,
                0.1, true);
        Verdict w = V.writer(primary("green"), true, green(ourLinkDown), LAG_1S, true, NOW);
        assertTrue(w.ok());
        assertTrue(w.reason().contains("this node's link to it is down with 2 changes waiting"), w.reason());
    }

    @Test
    void notReadyWhenTheLocalDatabaseCannotTakeWrites() {
        assertEquals("local database unavailable: Connection refused",
                V.ready(LocalState.failed("Connection refused"), true, Map.of(), LAG_1S, NOW).reason());
        assertEquals("local database is in recovery (a standby)",
                V.ready(new LocalState(null, "blue", true, false, null, null, List.of()), true, Map.of(), LAG_1S, NOW).reason());
        assertEquals("local database is read-only (default_transaction_read_only is on)",
                V.ready(new LocalState(null, "blue", false, true, null, null, List.of()), true, Map.of(), LAG_1S, NOW).reason());
        assertFalse(V.ready(new LocalState(null, null, false, false, null, null, List.of()), true, Map.of(), LAG_1S, NOW).ok());
    }

    @Test
    void notReadyBeforeThePeersHaveBeenAsked() {
        assertEquals("starting: the peers have not been asked yet", V.ready(BLUE, false, Map.of(), LAG_1S, NOW).reason());
        assertEquals("starting: peer green has not been asked yet", V.ready(BLUE, true, green(), LAG_1S, NOW).reason());
    }

    @Test
    void aPeerThatCannotBeAskedCountsAsCaughtUpUnlessRequired() {
        Verdict v = V.ready(BLUE, true, green(unreachable(0.2)), LAG_1S, NOW);
        assertTrue(v.ok());
        assertTrue(v.reason().contains("peer green cannot be asked (Connection refused)"), v.reason());
        Ask strict = new Ask(Lag.ofSeconds(1), true, null);
        assertFalse(V.ready(BLUE, true, green(unreachable(0.2)), strict, NOW).ok());
        Verdict stale = V.ready(BLUE, true, green(answer(5, 999, 99, 0, 0)), LAG_1S, NOW);
        assertTrue(stale.ok(), "an answer older than the staleness limit is no answer");
        assertTrue(stale.reason().contains("no answer for 5.0 s"), stale.reason());
    }

    @Test
    void theBackupServerOnlyNeedsToBeWritable() {
        Ask backupGreen = new Ask(Lag.ofSeconds(1), false, "blue");
        Verdict v = V.writer(primary("green"), true, green(answer(0.1, 500, 30, 0, 0)), backupGreen, false, NOW);
        assertTrue(v.ok(), v.reason());
        assertEquals("backup", v.facts().get("role"));
        assertFalse(V.writer(new LocalState(null, "blue", false, true, null, null, List.of()), true, Map.of(), backupGreen, false, NOW).ok());
        Ask otherBackup = new Ask(Lag.ofSeconds(1), false, "green");
        assertFalse(V.writer(BLUE, true, green(answer(0.1, 500, 30, 0, 0)), otherBackup, false, NOW).ok(),
                "the active server must be caught up");
    }

    @Test
    void whenBothNodesLackChangesTheNodeTakingTheWritesKeepsThem() {
        Map<String, PeerHistory> both = green(answer(0.1, 2, 6.4, 507, 3.8));
        Verdict returning = V.writer(BLUE, true, both, LAG_1S, false, NOW);
        assertFalse(returning.ok(), "a node that returns from an outage waits until it has caught up");
        Verdict serving = V.writer(BLUE, true, both, LAG_1S, true, NOW);
        assertTrue(serving.ok(), serving.reason());
        assertTrue(serving.reason().contains("but it is not ready either"), serving.reason());
        Verdict peerComplete = V.writer(BLUE, true, green(answer(0.1, 2, 6.4, 0, 0)), LAG_1S, true, NOW);
        assertFalse(peerComplete.ok(), "a peer that has everything of this node takes over even from a serving node");
        assertTrue(peerComplete.reason().endsWith("so it should take the writes"), peerComplete.reason());
        assertFalse(V.ready(BLUE, true, both, LAG_1S, NOW).ok(), "/ready itself is never sticky");
    }

    @Test
    void writerHandsOverOnlyAfterTheDesignatedNodeWasReadyForTheHandoverTime() {
        LocalState designatedGreen = primary("green");
        Map<String, PeerHistory> shortly = green(answer(2.0, 0, 0, 0, 0), answer(1.5, 0, 0, 0, 0), answer(0.1, 0, 0, 0, 0));
        Verdict v = V.writer(designatedGreen, true, shortly, LAG_1S, true, NOW);
        assertTrue(v.ok(), v.reason());
        assertTrue(v.reason().contains("is ready for only 2.0 s, handing over after 3.0 s"), v.reason());

        Map<String, PeerHistory> longEnough = green(answer(3.5, 0, 0, 0, 0), answer(2.0, 0, 0, 0, 0), answer(0.5, 0, 0, 0, 0));
        Verdict h = V.writer(designatedGreen, true, longEnough, LAG_1S, true, NOW);
        assertFalse(h.ok());
        assertEquals("the designated write node green is ready (for 3.5 s); this node hands the writes over", h.reason());

        Map<String, PeerHistory> gap = green(answer(9, 0, 0, 0, 0), answer(2.5, 0, 0, 0, 0), answer(0.5, 0, 0, 0, 0));
        assertTrue(V.writer(designatedGreen, true, gap, LAG_1S, true, NOW).ok(), "a gap in the answers restarts the count");
        Map<String, PeerHistory> wasBehind = green(answer(4, 0, 0, 900, 4), answer(2.5, 0, 0, 0, 0), answer(0.5, 0, 0, 0, 0));
        assertTrue(V.writer(designatedGreen, true, wasBehind, LAG_1S, true, NOW).ok(), "ready counts from when it caught up");
    }

    @Test
    void writerKeepsTheWritesWhileTheDesignatedNodeIsNotReady() {
        LocalState designatedGreen = primary("green");
        Verdict down = V.writer(designatedGreen, true, green(unreachable(4), unreachable(0.2)), LAG_1S, true, NOW);
        assertTrue(down.ok());
        assertTrue(down.reason().contains("the designated write node green is not ready (cannot be asked: Connection refused)"),
                down.reason());
        PeerSample noBeat = new PeerSample(NOW.minusMillis(100), null, "green", false, false, 0, 0, false, 7.0, true, 0, 0, false);
        Verdict agentDead = V.writer(designatedGreen, true, green(noBeat), LAG_1S, true, NOW);
        assertTrue(agentDead.ok());
        assertTrue(agentDead.reason().contains("health heartbeat 7.0 s old"), agentDead.reason());
        Verdict behind = V.writer(designatedGreen, true, green(answer(5, 0, 0, 100, 3), answer(0.1, 0, 0, 100, 3)), LAG_1S,
                true, NOW);
        assertTrue(behind.reason().contains("this node still has 100 changes to send to it"), behind.reason());
    }

    @Test
    void writerWithoutOrAsTheDesignatedNodeIsJustReady() {
        assertTrue(V.writer(BLUE, true, green(answer(0.1, 0, 0, 0, 0)), LAG_1S, false, NOW).reason()
                .endsWith("no designated write node, HAProxy's order decides"));
        assertTrue(V.writer(primary("blue"), true, green(answer(0.1, 0, 0, 0, 0)), LAG_1S, false, NOW).reason()
                .endsWith("; the designated write node"));
    }

    @Test
    void primaryIsTheDesignatedWritableNode() {
        assertTrue(V.primary(primary("blue")).ok());
        assertEquals("the designated write node is green", V.primary(primary("green")).reason());
        assertFalse(V.primary(BLUE).ok());
        assertFalse(V.primary(new LocalState(null, "blue", true, false, "blue", null, List.of())).ok(), "a standby is no write node");
    }

    @Test
    void livenessLooksOnlyAtTheEngineLoop() {
        assertTrue(V.liveness(NOW.minusSeconds(29), NOW).ok());
        Verdict stale = V.liveness(NOW.minus(Duration.ofSeconds(31)), NOW);
        assertFalse(stale.ok());
        assertEquals("engine loop has not run for 31.0 s (limit 30 s)", stale.reason());
        assertEquals(503, stale.httpStatus());
    }
}
