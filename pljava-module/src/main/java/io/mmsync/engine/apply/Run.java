package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.TableRef;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Changes of one table, one operation and one action that the peer applies with one set-based
 * statement. Rows are distinct, except that an update run may hold several updates of one row
 * (a hot row): they apply as one, the row's last image with delta columns adding every delta.
 */
final class Run {
    private final List<Change> changes = new ArrayList<>();
    private final Set<String> keys = new HashSet<>();
    final Action action;
    private boolean repeatsRows;

    Run(Action action) {
        this.action = action;
    }

    static Run of(Action action, Change c) {
        Run r = new Run(action);
        r.add(c);
        return r;
    }

    void add(Change c) {
        repeatsRows |= !keys.add(c.key()) && c.op() == Op.UPDATE;
        keys.add(c.newKey());
        changes.add(c);
    }

    List<Change> changes() {
        return Collections.unmodifiableList(changes);
    }

    Change first() {
        return changes.get(0);
    }

    TableRef table() {
        return first().table();
    }

    Op op() {
        return first().op();
    }

    int size() {
        return changes.size();
    }

    /** Whether a change of {@code key} (before or after it) is in this run. */
    boolean touches(String key) {
        return keys.contains(key);
    }

    /** A truncate, or an update that moves the primary key: applied on its own, never reordered. */
    boolean isAlone() {
        return isAlone(first());
    }

    static boolean isAlone(Change c) {
        return c.op() == Op.TRUNCATE || (c.op() == Op.UPDATE && c.movesKey());
    }

    /** Whether some row has more than one update in this run. */
    boolean repeatsRows() {
        return repeatsRows;
    }

    /** The last change of each row, in the order rows first appear. */
    List<Change> lastPerRow() {
        if (!repeatsRows) {
            return changes();
        }
        Map<String, Change> last = new LinkedHashMap<>();
        for (Change c : changes) {
            last.put(c.key(), c);
        }
        return new ArrayList<>(last.values());
    }
}
