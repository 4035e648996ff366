package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.TableRef;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Cuts a page into {@link Run}s, as few as the peer's constraints allow. A change joins an earlier
 * run of its table, operation and action when it may be applied before every run made since
 * ("commutes" with them); each row's own changes always keep their order. Without this, a page of
 * small transactions that each touch several tables (pgbench's TPC-B: account, teller, branch,
 * history) became one statement per change, and the peer's hot rows stayed locked for seconds.
 * <p>
 * Two changes commute when they touch different rows and no constraint of the peer sees the
 * order: a foreign key between their tables only when the referenced side is a plain update
 * (which neither creates nor removes a referenced key); a second unique index of a table only
 * when both are the same operation, and updates of such a table each get a statement of their
 * own. Truncates, updates that move a key and changes of a table whose constraints cannot be read
 * are barriers.
 */
final class RunPlanner {
    /** How far back a change looks for a run to join; bounds planning at O(page × this). */
    static final int LOOK_BACK = 64;

    /** The peer's constraints on a change's table. */
    interface Constraints {
        TableConstraints of(Change c) throws SQLException;
    }

    private RunPlanner() {
    }

    static List<Run> plan(List<Change> changes, Function<Change, Action> actions, Constraints tables) throws SQLException {
        List<Run> runs = new ArrayList<>();
        int barrier = 0;
        for (Change c : changes) {
            Action v = actions.apply(c);
            if (v == Action.SKIP && !(c.op() == Op.UPDATE && c.movesKey())) {
                continue;
            }
            TableConstraints constraints = Run.isAlone(c) ? null : constraintsOf(c, tables);
            if (constraints == null) {
                runs.add(Run.of(v, c));
                barrier = runs.size();
                continue;
            }
            Run target = null;
            for (int i = runs.size() - 1; i >= Math.max(barrier, runs.size() - LOOK_BACK); i--) {
                Run r = runs.get(i);
                if (accepts(r, c, v, constraints)) {
                    target = r;
                    break;
                }
                if (!commutes(c, constraints, r)) {
                    break;
                }
            }
            if (target != null) {
                target.add(c);
            } else {
                runs.add(Run.of(v, c));
            }
        }
        return runs;
    }

    /**
     * The change's table's constraints, or null if they cannot be read (e.g. the table is missing
     * here): the change then stays in its place, and applying it reports the error as before.
     */
    private static TableConstraints constraintsOf(Change c, Constraints tables) {
        try {
            return tables.of(c);
        } catch (SQLException e) {
            return null;
        }
    }

    private static boolean accepts(Run r, Change c, Action v, TableConstraints constraints) {
        if (r.action != v || r.op() != c.op() || !r.table().equals(c.table())) {
            return false;
        }
        if (c.op() == Op.UPDATE && constraints.otherUnique) {
            // one statement updating several rows checks a unique index row by row, in no set
            // order: two rows swapping values would collide half-way
            return false;
        }
        // a row already in the run: only a further plain update of it (the run applies its sum)
        return !r.touches(c.key()) || (c.op() == Op.UPDATE && (v == Action.APPLY || v == Action.DELTA_ONLY));
    }

    /** Whether {@code c} may be applied before the run {@code r}, which came earlier in the page. */
    static boolean commutes(Change c, TableConstraints constraints, Run r) {
        if (r.isAlone()) {
            return false;
        }
        TableRef other = r.table();
        if (c.table().equals(other)) {
            if (r.touches(c.key()) || r.touches(c.newKey())) {
                return false;
            }
            if (c.op() != r.op() && constraints.otherUnique) {
                return false;
            }
        }
        // the referenced (parent) side must be a plain update, by primary key
        Boolean refsOther = constraints.references(other);
        if (refsOther != null && !(refsOther && r.op() == Op.UPDATE)) {
            return false;
        }
        Boolean otherRefs = constraints.referencedBy(other);
        return otherRefs == null || (otherRefs && c.op() == Op.UPDATE);
    }
}
