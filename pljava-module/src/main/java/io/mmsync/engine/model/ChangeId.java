package io.mmsync.engine.model;



/** The id of one captured change in its origin's queue ({@code mmsync.changes.id}). */
public final class ChangeId implements Comparable<ChangeId> {
    /** Before every change: where a fresh snapshot range starts. */
    public static final ChangeId NONE = new ChangeId(0);

    private final long value;

    private ChangeId(long value) {
        if (value < 0) {
            throw new IllegalArgumentException("change id must not be negative: " + value);
        }
        this.value = value;
    }

    public static ChangeId valueOf(long value) {
        return value == 0 ? NONE : new ChangeId(value);
    }

    public long asLong() {
        return value;
    }

    @Override
    public int compareTo(ChangeId o) {
        return Long.compare(value, o.value);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ChangeId && ((ChangeId) o).value == value;
    }

    @Override
    public int hashCode() {
        return Long.hashCode(value);
    }

    @Override
    public String toString() {
        return Long.toString(value);
    }
}
