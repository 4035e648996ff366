package io.mmsync.engine.model;

import java.util.List;

/**
 * A batch of changes read from the origin, in id order, and the position the peer reaches once
 * all of them are applied. {@code rangeComplete} tells that the page ended its snapshot range.
 */
public final class Page {
    private final List<Change> changes;
    private final Position next;
    private final boolean rangeComplete;

    public Page(List<Change> changes, Position next, boolean rangeComplete) {
        this.changes = List.copyOf(changes);
        this.next = next;
        this.rangeComplete = rangeComplete;
    }

    public List<Change> changes() {
        return changes;
    }

    public Position next() {
        return next;
    }

    public boolean rangeComplete() {
        return rangeComplete;
    }

    public boolean isEmpty() {
        return changes.isEmpty();
    }
}
