package io.mmsync.engine.model;

import java.util.Objects;

/**
 * How far a peer has applied an origin's changes of one sync. Every change visible in snapshot
 * {@code lo} is applied; of the range of changes visible in {@code hi} but not in {@code lo}, those
 * with id up to {@code lastId} are applied. Snapshots are PostgreSQL {@code pg_snapshot} texts of
 * the origin; {@code lo == null} means "nothing applied yet", {@code hi == null} "no range open".
 * Immutable; stored in the peer's {@code mmsync.progress} in the same transaction as the changes.
 */
public final class Position {
    public static final Position START = new Position(null, null, ChangeId.NONE);

    private final String lo;
    private final String hi;
    private final ChangeId lastId;

    private Position(String lo, String hi, ChangeId lastId) {
        if (hi == null && !lastId.equals(ChangeId.NONE)) {
            throw new IllegalArgumentException("a position without an open range has no last id");
        }
        this.lo = lo;
        this.hi = hi;
        this.lastId = Objects.requireNonNull(lastId);
    }

    public static Position of(String lo, String hi, ChangeId lastId) {
        return lo == null && hi == null && lastId.equals(ChangeId.NONE) ? START : new Position(lo, hi, lastId);
    }

    /** Opens the range up to snapshot {@code newHi} (taken on the origin now). */
    public Position openRange(String newHi) {
        if (hi != null) {
            throw new IllegalStateException("range up to " + hi + " is still open");
        }
        return new Position(lo, Objects.requireNonNull(newHi), ChangeId.NONE);
    }

    /** Inside the open range, everything up to {@code id} is applied. */
    public Position advancedTo(ChangeId id) {
        requireOpen();
        return new Position(lo, hi, id);
    }

    /** The open range is fully applied: its upper snapshot becomes the new lower bound. */
    public Position rangeDone() {
        requireOpen();
        return new Position(hi, null, ChangeId.NONE);
    }

    public boolean hasOpenRange() {
        return hi != null;
    }

    public String lo() {
        return lo;
    }

    public String hi() {
        return hi;
    }

    public ChangeId lastId() {
        return lastId;
    }

    private void requireOpen() {
        if (hi == null) {
            throw new IllegalStateException("no open range");
        }
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Position)) {
            return false;
        }
        Position p = (Position) o;
        return Objects.equals(lo, p.lo) && Objects.equals(hi, p.hi) && lastId.equals(p.lastId);
    }

    @Override
    public int hashCode() {
        return Objects.hash(lo, hi, lastId);
    }

    @Override
    public String toString() {
        return "Position[lo=" + lo + ", hi=" + hi + ", lastId=" + lastId + "]";
    }
}
