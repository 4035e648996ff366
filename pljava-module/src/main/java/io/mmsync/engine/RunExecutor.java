package io.mmsync.engine;

import io.mmsync.engine.Resolver.Verdict;
import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.Op;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/**
 * Applies changes at the peer with one set-based statement per run: consecutive changes of the
 * same table, operation and verdict that touch distinct rows. Order between runs is the page's
 * order, so each row's changes apply in the order they were made.
 */
final class RunExecutor {
    private final Shapes shapes;

    RunExecutor(Shapes shapes) {
        this.shapes = shapes;
    }

    /** A run: changes and the verdict they share. */
    static final class Run {
        final List<Change> changes = new ArrayList<>();
        final Verdict verdict;

        Run(Verdict verdict) {
            this.verdict = verdict;
        }
    }

    static List<Run> split(List<Change> changes, Resolver.Outcome outcome) {
        List<Run> runs = new ArrayList<>();
        Run cur = null;
        Set<String> keys = new HashSet<>();
        for (Change c : changes) {
            Verdict v = outcome.verdict(c);
            if (v == Verdict.SKIP && !(c.op() == Op.UPDATE && c.movesKey())) {
                continue;
            }
            boolean alone = c.op() == Op.TRUNCATE || (c.op() == Op.UPDATE && c.movesKey());
            boolean fits = cur != null && !alone && cur.verdict == v && !isAlone(cur.changes.get(0))
                    && cur.changes.get(0).op() == c.op() && cur.changes.get(0).table().equals(c.table())
                    && !keys.contains(c.key());
            if (!fits) {
                cur = new Run(v);
                runs.add(cur);
                keys.clear();
            }
            cur.changes.add(c);
            keys.add(c.key());
        }
        return runs;
    }

    private static boolean isAlone(Change c) {
        return c.op() == Op.TRUNCATE || (c.op() == Op.UPDATE && c.movesKey());
    }

    void execute(Connection peer, Run run) throws SQLException {
        Change first = run.changes.get(0);
        TableShape shape = shapes.get(first);
        switch (first.op()) {
            case INSERT:
                update(peer, shape.insertSql(), rows(run, Change::newRow));
                break;
            case DELETE:
                update(peer, shape.deleteSql(), rows(run, Change::oldRow));
                break;
            case TRUNCATE:
                try (PreparedStatement st = peer.prepareStatement(shape.truncateSql())) {
                    st.execute();
                }
                break;
            case UPDATE:
                updateRun(peer, shape, run);
                break;
            default:
                throw new IllegalStateException("unhandled operation " + first.op());
        }
    }

    private void updateRun(Connection peer, TableShape shape, Run run) throws SQLException {
        Change first = run.changes.get(0);
        if (first.movesKey()) {
            if (run.verdict == Verdict.SKIP) {
                // the peer's newer version of the old key stays; the row under its new key arrives
                update(peer, shape.insertMissingSql(), rows(run, Change::newRow));
            } else if (update(peer, shape.moveSql(), pairs(run)) == 0) {
                update(peer, shape.insertSql(), rows(run, Change::newRow));
            }
            return;
        }
        if (run.verdict == Verdict.DELTA_ONLY) {
            update(peer, shape.deltaUpdateSql(true), pairs(run));
            return;
        }
        int n = shape.hasDelta() ? update(peer, shape.deltaUpdateSql(false), pairs(run))
                : update(peer, shape.updateSql(), rows(run, Change::newRow));
        if (n < run.changes.size()) {
            // rows missing here (deleted earlier, no newer competitor): the winning version returns
            update(peer, shape.hasDelta() ? shape.insertMissingSql() : shape.insertSql(), rows(run, Change::newRow));
        }
    }

    private static int update(Connection peer, String sql, String json) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement(sql)) {
            st.setObject(1, json, Types.OTHER);
            return st.executeUpdate();
        }
    }

    private static String rows(Run run, Function<Change, String> row) {
        StringBuilder sb = new StringBuilder(capacity(run));
        sb.append('[');
        for (int i = 0; i < run.changes.size(); i++) {
            sb.append(i > 0 ? "," : "").append(row.apply(run.changes.get(i)));
        }
        return sb.append(']').toString();
    }

    private static String pairs(Run run) {
        StringBuilder sb = new StringBuilder(capacity(run) + 16 * run.changes.size());
        sb.append('[');
        for (int i = 0; i < run.changes.size(); i++) {
            Change c = run.changes.get(i);
            sb.append(i > 0 ? "," : "").append("{\"o\":").append(c.oldRow()).append(",\"n\":").append(c.newRow()).append('}');
        }
        return sb.append(']').toString();
    }

    private static int capacity(Run run) {
        long size = 16;
        for (Change c : run.changes) {
            size += c.weight();
        }
        return (int) Math.min(Integer.MAX_VALUE - 64, size);
    }
}
