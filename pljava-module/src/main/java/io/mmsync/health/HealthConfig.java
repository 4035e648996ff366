package io.mmsync.health;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Objects;

/**
 * Settings of the health endpoint, validated once by {@link Builder#build()} and immutable after.
 * Defaults suit HAProxy's {@code inter 1s fall 2 rise 2} (docs/health.md).
 */
public final class HealthConfig {
    /** The agent's default port when {@code --health-port} is given without a value elsewhere (Patroni uses 8008 too). */
    public static final int DEFAULT_PORT = 8008;
    public static final String DEFAULT_BIND = "127.0.0.1";

    private final String bind;
    private final int port;
    private final Duration probeTimeout;
    private final Duration tick;
    private final Duration peerStale;
    private final Duration beatStale;
    private final Duration handover;
    private final Duration livenessMax;
    private final Duration stickiness;
    private final Lag defaultLag;

    private HealthConfig(Builder b) {
        this.bind = b.bind;
        this.port = b.port;
        this.probeTimeout = b.probeTimeout;
        this.tick = b.tick;
        this.peerStale = b.peerStale;
        this.beatStale = b.beatStale;
        this.handover = b.handover;
        this.livenessMax = b.livenessMax;
        this.stickiness = b.stickiness;
        this.defaultLag = b.defaultLag;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Address to listen on (default 127.0.0.1: HAProxy on another host needs the node's own address). */
    public String bind() {
        return bind;
    }

    /** TCP port; 0 picks a free one (tests). */
    public int port() {
        return port;
    }

    /** A probe's whole database work (connect, log in, query) must finish within this, else 503. */
    public Duration probeTimeout() {
        return probeTimeout;
    }

    /** How often the watcher asks each peer (and beats the local heartbeat). */
    public Duration tick() {
        return tick;
    }

    /** A peer answer older than this counts as "peer unreachable". */
    public Duration peerStale() {
        return peerStale;
    }

    /** A peer whose health heartbeat is older than this has no running agent. */
    public Duration beatStale() {
        return beatStale;
    }

    /** How long the designated node must have been ready before another node answers 503 on /writer. */
    public Duration handover() {
        return handover;
    }

    /** /liveness fails when the engine loop has not completed a round for this long. */
    public Duration livenessMax() {
        return livenessMax;
    }

    /**
     * A node whose /writer answered 200 within this time is "taking the writes": when both nodes
     * lack changes of the other, it keeps them rather than leaving HAProxy without a server.
     */
    public Duration stickiness() {
        return stickiness;
    }

    /** Threshold of /ready and /writer when the request has no {@code ?lag=}. */
    public Lag defaultLag() {
        return defaultLag;
    }

    @Override
    public String toString() {
        return bind + ":" + port + " (probe timeout " + probeTimeout.toMillis() + " ms, peer asked every "
                + tick.toMillis() + " ms, handover " + handover.toMillis() + " ms, default lag " + defaultLag + ")";
    }

    public static final class Builder {
        private String bind = DEFAULT_BIND;
        private int port = DEFAULT_PORT;
        private Duration probeTimeout = Duration.ofMillis(1000);
        private Duration tick = Duration.ofMillis(500);
        private Duration peerStale = Duration.ofMillis(2500);
        private Duration beatStale = Duration.ofSeconds(3);
        private Duration handover = Duration.ofSeconds(3);
        private Duration livenessMax = Duration.ofSeconds(30);
        private Duration stickiness = Duration.ofSeconds(10);
        private Lag defaultLag = Lag.ofSeconds(1);

        private Builder() {
        }

        public Builder bind(String v) {
            this.bind = v;
            return this;
        }

        public Builder port(int v) {
            this.port = v;
            return this;
        }

        public Builder probeTimeout(Duration v) {
            this.probeTimeout = v;
            return this;
        }

        public Builder tick(Duration v) {
            this.tick = v;
            return this;
        }

        public Builder peerStale(Duration v) {
            this.peerStale = v;
            return this;
        }

        public Builder beatStale(Duration v) {
            this.beatStale = v;
            return this;
        }

        public Builder handover(Duration v) {
            this.handover = v;
            return this;
        }

        public Builder livenessMax(Duration v) {
            this.livenessMax = v;
            return this;
        }

        public Builder stickiness(Duration v) {
            this.stickiness = v;
            return this;
        }

        public Builder defaultLag(Lag v) {
            this.defaultLag = v;
            return this;
        }

        /** Validates and freezes; throws IllegalArgumentException naming the bad setting and value. */
        public HealthConfig build() {
            Objects.requireNonNull(defaultLag, "default lag");
            if (bind == null || bind.isBlank()) {
                throw new IllegalArgumentException("health bind address is empty");
            }
            try {
                InetAddress.getByName(bind);
            } catch (UnknownHostException e) {
                throw new IllegalArgumentException("health bind address \"" + bind + "\" does not resolve", e);
            }
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("health port must be between 1 and 65535, not " + port);
            }
            if (probeTimeout.compareTo(Duration.ofMillis(100)) < 0 || probeTimeout.compareTo(Duration.ofSeconds(10)) > 0) {
                throw new IllegalArgumentException("probe timeout must be between 100 ms and 10 s, not " + probeTimeout.toMillis() + " ms");
            }
            if (tick.compareTo(Duration.ofMillis(50)) < 0 || tick.compareTo(Duration.ofSeconds(5)) > 0) {
                throw new IllegalArgumentException("watcher tick must be between 50 ms and 5 s, not " + tick.toMillis() + " ms");
            }
            if (peerStale.compareTo(tick.multipliedBy(2)) < 0) {
                throw new IllegalArgumentException("peer staleness " + peerStale.toMillis()
                        + " ms must be at least two watcher ticks (" + tick.multipliedBy(2).toMillis() + " ms)");
            }
            if (beatStale.compareTo(Duration.ofSeconds(2)) < 0) {
                throw new IllegalArgumentException("heartbeat staleness must be at least 2 s (the beat is written once a second), not "
                        + beatStale.toMillis() + " ms");
            }
            if (handover.compareTo(tick.multipliedBy(2)) < 0) {
                throw new IllegalArgumentException("handover " + handover.toMillis()
                        + " ms must be at least two watcher ticks (" + tick.multipliedBy(2).toMillis() + " ms)");
            }
            if (livenessMax.compareTo(Duration.ofSeconds(15)) < 0) {
                throw new IllegalArgumentException("liveness limit must be at least 15 s (the engine loop may wait up to"
                        + " 10 s for notifications), not " + livenessMax.toSeconds() + " s");
            }
            if (stickiness.compareTo(Duration.ofSeconds(2)) < 0) {
                throw new IllegalArgumentException("stickiness must be at least 2 s (longer than HAProxy's check interval), not "
                        + stickiness.toMillis() + " ms");
            }
            return new HealthConfig(this);
        }
    }
}
