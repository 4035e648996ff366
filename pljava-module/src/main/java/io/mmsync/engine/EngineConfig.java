package io.mmsync.engine;

import io.mmsync.engine.conn.ConnInfo;

import java.time.Duration;
import java.util.Objects;

/**
 * The engine's settings, validated once when built; immutable afterwards. Everything else
 * (nodes, syncs, tables) comes from the local database's {@code mmsync} schema.
 */
public final class EngineConfig {
    private final String localConninfo;
    private final int pageRows;
    private final long pageBytes;
    private final Duration poll;
    private final Duration activePoll;
    private final Duration idleAfter;
    private final Duration heartbeat;
    private final String host;
    private final boolean fileSync;

    private EngineConfig(Builder b) {
        this.localConninfo = b.localConninfo;
        this.pageRows = b.pageRows;
        this.pageBytes = b.pageBytes;
        this.poll = b.poll;
        this.activePoll = b.activePoll == null ? min(Builder.ACTIVE_POLL, b.poll) : b.activePoll;
        this.idleAfter = b.idleAfter;
        this.heartbeat = b.heartbeat;
        this.host = b.host;
        this.fileSync = b.fileSync;
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    public static Builder builder(String localConninfo) {
        return new Builder(localConninfo);
    }

    public String localConninfo() {
        return localConninfo;
    }

    public int pageRows() {
        return pageRows;
    }

    public long pageBytes() {
        return pageBytes;
    }

    /** How long an idle sender waits for a NOTIFY before it looks anyway. */
    public Duration poll() {
        return poll;
    }

    /** How often a busy sender looks for new changes (it gets no NOTIFY then; see Wakeup). */
    public Duration activePoll() {
        return activePoll;
    }

    /** How long a sender finds nothing before it goes idle and asks writers to notify it. */
    public Duration idleAfter() {
        return idleAfter;
    }

    public Duration heartbeat() {
        return heartbeat;
    }

    /**
     * What hosts this engine, e.g. "agent pid 812 on app1" or "worker pid 4711": part of the
     * application_name of its connection to the local database, which mmsync.engine_host() and
     * a second engine waiting for the node lock report.
     */
    public String host() {
        return host;
    }

    /**
     * Whether this engine runs the node's file syncs (writes files on this server); the
     * in-database worker does not (it would write as the server's OS user, under PL/Java's policy):
     * file syncs there need an agent (docs/files.md).
     */
    public boolean fileSync() {
        return fileSync;
    }

    public static final class Builder {
        private final String localConninfo;
        private int pageRows = 5000;
        private long pageBytes = 16L << 20;
        static final Duration ACTIVE_POLL = Duration.ofMillis(5);

        private Duration poll = Duration.ofSeconds(1);
        private Duration activePoll;
        private Duration idleAfter = Duration.ofMillis(250);
        private Duration heartbeat = Duration.ofSeconds(5);
        private String host = "agent";
        private boolean fileSync = true;

        private Builder(String localConninfo) {
            this.localConninfo = localConninfo;
        }

        public Builder pageRows(int v) {
            this.pageRows = v;
            return this;
        }

        public Builder pageBytes(long v) {
            this.pageBytes = v;
            return this;
        }

        public Builder poll(Duration v) {
            this.poll = v;
            return this;
        }

        /** Default 5 ms (or the poll interval, if that is shorter). */
        public Builder activePoll(Duration v) {
            this.activePoll = v;
            return this;
        }

        public Builder idleAfter(Duration v) {
            this.idleAfter = v;
            return this;
        }

        public Builder heartbeat(Duration v) {
            this.heartbeat = v;
            return this;
        }

        /** See {@link EngineConfig#fileSync()}; default true. */
        public Builder fileSync(boolean v) {
            this.fileSync = v;
            return this;
        }

        /** See {@link EngineConfig#host()}; default "agent". */
        public Builder host(String v) {
            this.host = v;
            return this;
        }

        /** Validates and freezes; throws IllegalArgumentException naming the bad setting. */
        public EngineConfig build() {
            Objects.requireNonNull(localConninfo, "local conninfo");
            ConnInfo.parse(localConninfo);
            if (host == null || host.isBlank() || host.length() > 40) {
                throw new IllegalArgumentException("host label must be 1 to 40 characters, not \"" + host + "\"");
            }
            if (pageRows < 1 || pageRows > 1_000_000) {
                throw new IllegalArgumentException("page rows must be between 1 and 1000000, not " + pageRows);
            }
            if (pageBytes < 1024) {
                throw new IllegalArgumentException("page bytes must be at least 1024, not " + pageBytes);
            }
            if (poll.isNegative() || poll.isZero() || poll.compareTo(heartbeat) > 0) {
                throw new IllegalArgumentException("poll interval " + poll + " must be positive and at most the heartbeat " + heartbeat);
            }
            if (activePoll != null && (activePoll.isNegative() || activePoll.isZero() || activePoll.compareTo(poll) > 0)) {
                throw new IllegalArgumentException("active poll interval " + activePoll + " must be positive and at most the poll interval " + poll);
            }
            if (idleAfter.isNegative() || idleAfter.compareTo(heartbeat) > 0) {
                throw new IllegalArgumentException("idle-after " + idleAfter + " must be between 0 and the heartbeat " + heartbeat);
            }
            if (heartbeat.compareTo(Duration.ofSeconds(10)) > 0) {
                throw new IllegalArgumentException("heartbeat " + heartbeat + " must be at most 10 s (status reports a link without heartbeat for 30 s as disconnected)");
            }
            return new EngineConfig(this);
        }
    }
}
