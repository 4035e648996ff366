package io.mmsync.health;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The decisions behind the health paths, as pure functions of what the probes and the watcher saw
 * (no I/O, no clock of its own), so each rule has a unit test. See docs/health.md for the rules.
 */
final class Verdicts {
    private final HealthConfig config;

    Verdicts(HealthConfig config) {
        this.config = config;
    }

    /** /liveness: the engine's supervising loop completed a round recently. */
    Verdict liveness(Instant lastLoop, Instant now) {
        double age = seconds(Duration.between(lastLoop, now));
        Map<String, Object> f = facts("last_loop_age_seconds", round(age), "limit_seconds", config.livenessMax().toSeconds());
        return age <= config.livenessMax().toMillis() / 1000.0
                ? Verdict.ok("engine loop ran " + round(age) + " s ago", f)
                : Verdict.fail("engine loop has not run for " + round(age) + " s (limit " + config.livenessMax().toSeconds() + " s)", f);
    }

    /** /health: the local server accepted a connection and answered SELECT 1 ({@code error} null). */
    Verdict health(String error) {
        return error == null ? Verdict.ok("local database answers", facts("postgres", "up"))
                : Verdict.fail("local database unavailable: " + error, facts("postgres", "down", "error", error));
    }

    /**
     * /ready: the local database is writable and no peer still has more than {@code lag} to send
     * here. A peer that cannot be asked counts as caught up unless {@code peer=required}: in a pair
     * it is usually down, and then this node is the only one that can take the writes.
     */
    Verdict ready(LocalState local, boolean ticked, Map<String, PeerHistory> peers, Ask ask, Instant now) {
        return catchUp(local, ticked, peers, ask, false, now);
    }

    /** /ready, except that with {@code serving} a node that lacks changes keeps the writes while its peer lacks some too. */
    private Verdict catchUp(LocalState local, boolean ticked, Map<String, PeerHistory> peers, Ask ask, boolean serving,
                            Instant now) {
        Lag lag = ask.lag();
        Map<String, Object> f = facts("node", local.node(), "lag", lag.toString());
        Verdict w = writable(local, f);
        if (w != null) {
            return w;
        }
        if (!ticked) {
            return Verdict.fail("starting: the peers have not been asked yet", f);
        }
        List<String> notes = new ArrayList<>();
        for (PeerHistory h : peers.values()) {
            PeerSample s = h.latest();
            if (s == null) {
                return Verdict.fail("starting: peer " + h.peer() + " has not been asked yet", f);
            }
            String unreachable = unreachable(s, now);
            if (unreachable != null) {
                if (ask.peerRequired()) {
                    return Verdict.fail("peer " + h.peer() + " cannot be asked (" + unreachable + ") and peer=required", f);
                }
                notes.add("peer " + h.peer() + " cannot be asked (" + unreachable + "); judged on the local database alone");
                continue;
            }
            String lacking = s.lacking(lag);
            if (lacking == null) {
                continue;
            }
            f.put("peer", h.peer());
            f.put("peer_backlog", s.backlogToMe());
            f.put("peer_lag_seconds", round(s.lagToMe()));
            String behind = "peer " + h.peer() + " " + lacking;
            if (!serving) {
                return Verdict.fail(behind, f);
            }
            String peerLacks = designatedNotReady(s, lag, now);
            if (peerLacks == null) {
                return Verdict.fail(behind + "; it has all of this node's changes, so it should take the writes", f);
            }
            notes.add(behind + ", but it is not ready either (" + peerLacks + "), so this node keeps the writes");
        }
        if (!notes.isEmpty()) {
            f.put("notes", notes);
        }
        return Verdict.ok(notes.isEmpty() ? "writable and caught up" : "writable; " + String.join("; ", notes), f);
    }

    /** /primary: this node is the designated write node and writable. */
    Verdict primary(LocalState local) {
        Map<String, Object> f = facts("node", local.node(), "primary", local.primary());
        Verdict w = writable(local, f);
        if (w != null) {
            return w;
        }
        if (local.primary() == null) {
            return Verdict.fail("no designated write node (SELECT mmsync.set_primary('<node>'))", f);
        }
        if (!local.primary().equals(local.node())) {
            return Verdict.fail("the designated write node is " + local.primary(), f);
        }
        return Verdict.ok("the designated write node, writable", f);
    }

    /**
     * /writer, the HAProxy check: should this node take the writes now?
     * <ul>
     * <li>HAProxy's backup server ({@code backup=} names this node) only needs to be writable: it
     * gets traffic only while the active server is down, and then it is the only choice.</li>
     * <li>Otherwise the node must be caught up as for /ready, except that a node that has been
     * taking the writes ({@code serving}) keeps them while its peer lacks changes too;</li>
     * <li>and it hands the writes over when another node is the designated write node and has
     * been ready, as seen from here, for the handover time: reachable, writable, its health
     * endpoint beating, and this node's backlog towards it within the lag.</li>
     * </ul>
     */
    Verdict writer(LocalState local, boolean ticked, Map<String, PeerHistory> peers, Ask ask, boolean serving,
                   Instant now) {
        if (local.node() != null && local.node().equals(ask.backup())) {
            Map<String, Object> f = facts("node", local.node(), "role", "backup");
            Verdict w = writable(local, f);
            return w != null ? w : Verdict.ok("writable; as HAProxy's backup it takes the writes while the active server is down", f);
        }
        Verdict r = catchUp(local, ticked, peers, ask, serving, now);
        if (!r.ok()) {
            return r;
        }
        Map<String, Object> f = new LinkedHashMap<>(r.facts());
        String d = local.primary();
        f.put("primary", d);
        if (d == null) {
            return Verdict.ok(r.reason() + "; no designated write node, HAProxy's order decides", f);
        }
        if (d.equals(local.node())) {
            return Verdict.ok(r.reason() + "; the designated write node", f);
        }
        PeerHistory h = peers.get(d);
        if (h == null) {
            return Verdict.ok(r.reason() + "; the designated write node " + d + " is not a peer of this node", f);
        }
        List<PeerSample> samples = h.newestFirst();
        String why = designatedNotReady(samples.isEmpty() ? null : samples.get(0), ask.lag(), now);
        if (why != null) {
            return Verdict.ok(r.reason() + "; the designated write node " + d + " is not ready (" + why
                    + "), so this node takes the writes", f);
        }
        Duration readyFor = readyFor(samples, ask.lag(), now);
        f.put("primary_ready_seconds", round(seconds(readyFor)));
        if (readyFor.compareTo(config.handover()) < 0) {
            return Verdict.ok(r.reason() + "; the designated write node " + d + " is ready for only "
                    + round(seconds(readyFor)) + " s, handing over after " + round(seconds(config.handover())) + " s", f);
        }
        return Verdict.fail("the designated write node " + d + " is ready (for " + round(seconds(readyFor))
                + " s); this node hands the writes over", f);
    }

    /** Null if the peer {@code s} describes could take the writes from this node (it lacks nothing of it), else why not. */
    private String designatedNotReady(PeerSample s, Lag lag, Instant now) {
        if (s == null) {
            return "not asked yet";
        }
        String u = unreachable(s, now);
        if (u != null) {
            return "cannot be asked: " + u;
        }
        if (s.inRecovery()) {
            return "in recovery";
        }
        if (s.readOnly()) {
            return "read-only";
        }
        if (s.beatAge() == null || s.beatAge() > seconds(config.beatStale())) {
            return s.beatAge() == null ? "no health heartbeat" : "health heartbeat " + round(s.beatAge()) + " s old";
        }
        return s.peerLacking(lag);
    }

    /** How long the newest run of ready answers (without gaps longer than the staleness) lasts. */
    private Duration readyFor(List<PeerSample> newestFirst, Lag lag, Instant now) {
        Instant since = newestFirst.get(0).at();
        Instant next = since;
        for (PeerSample s : newestFirst) {
            if (Duration.between(s.at(), next).compareTo(config.peerStale()) > 0
                    || designatedNotReady(s, lag, s.at()) != null) {
                break;
            }
            since = s.at();
            next = s.at();
        }
        return Duration.between(since, now);
    }

    /** Null if {@code s} is a fresh answer of a reachable peer, else why it does not count. */
    private String unreachable(PeerSample s, Instant now) {
        Duration age = Duration.between(s.at(), now);
        if (age.compareTo(config.peerStale()) > 0) {
            return "no answer for " + round(seconds(age)) + " s";
        }
        return s.reachable() ? null : s.error();
    }

    private static Verdict writable(LocalState local, Map<String, Object> f) {
        if (!local.up()) {
            return Verdict.fail("local database unavailable: " + local.error(), f);
        }
        if (local.node() == null) {
            return Verdict.fail("this database is not an mmsync node yet (mmsync.add_node(..., true))", f);
        }
        if (local.inRecovery()) {
            return Verdict.fail("local database is in recovery (a standby)", f);
        }
        if (local.readOnly()) {
            return Verdict.fail("local database is read-only (default_transaction_read_only is on)", f);
        }
        return null;
    }

    static Map<String, Object> facts(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i + 1 < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    static double seconds(Duration d) {
        return d.toNanos() / 1e9;
    }

    static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }
}
