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
    private final Duration heartbeat;

    private EngineConfig(Builder b) {
        this.localConninfo = b.localConninfo;
        this.pageRows = b.pageRows;
        this.pageBytes = b.pageBytes;
        this.poll = b.poll;
        this.heartbeat = b.heartbeat;
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

    public Duration poll() {
        return poll;
    }

    public Duration heartbeat() {
        return heartbeat;
    }

    public static final class Builder {
        private final String localConninfo;
        private int pageRows = 5000;
        private long pageBytes = 16L << 20;
        private Duration poll = Duration.ofSeconds(1);
        private Duration heartbeat = Duration.ofSeconds(5);

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

        public Builder heartbeat(Duration v) {
            this.heartbeat = v;
            return this;
        }

        /** Validates and freezes; throws IllegalArgumentException naming the bad setting. */
        public EngineConfig build() {
            Objects.requireNonNull(localConninfo, "local conninfo");
            ConnInfo.parse(localConninfo);
            if (pageRows < 1 || pageRows > 1_000_000) {
                throw new IllegalArgumentException("page rows must be between 1 and 1000000, not " + pageRows);
            }
            if (pageBytes < 1024) {
                throw new IllegalArgumentException("page bytes must be at least 1024, not " + pageBytes);
            }
            if (poll.isNegative() || poll.isZero() || poll.compareTo(heartbeat) > 0) {
                throw new IllegalArgumentException("poll interval " + poll + " must be positive and at most the heartbeat " + heartbeat);
            }
            if (heartbeat.compareTo(Duration.ofSeconds(10)) > 0) {
                throw new IllegalArgumentException("heartbeat " + heartbeat + " must be at most 10 s (status reports a link without heartbeat for 30 s as disconnected)");
            }
            return new EngineConfig(this);
        }
    }
}
