package io.mmsync.engine.apply;

import io.mmsync.engine.error.ErrorPolicy;
import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Types;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Applies a {@link Run} at the peer with one set-based statement (two when rows are missing or
 * an insert meets rows that exist). {@link RunPlanner} orders the runs.
 */
final class RunExecutor {
    /** An insert run this long first tries a plain INSERT (a third cheaper than the upsert). */
    static final int PLAIN_INSERT_MIN = 100;
    /** After a plain insert met an existing row, the table's next runs upsert directly. */
    private static final int UPSERT_RUNS_AFTER_MISS = 20;
    /** A run updating no row more often than this applies as layers of distinct rows (see deltaUpdate). */
    static final int MAX_LAYERS = 3;

    private final PeerTables tables;
    private final Map<TableRef, Integer> upsertRuns = new HashMap<>();
    /** updates and deletes whose rows were not here, logged as conflicts with the page ({@link MissingRows}) */
    final MissingRows missing = new MissingRows();

    RunExecutor(PeerTables tables) {
        this.tables = tables;
    }

    void execute(Connection peer, Run run) throws SQLException {
        Change first = run.first();
        TableShape shape = tables.get(first);
        switch (first.op()) {
            case INSERT:
                insertRun(peer, shape, run);
                break;
            case DELETE:
                List<Change> gone = MissingRows.delete(peer, shape, run.changes());
                if (!gone.isEmpty()) {
                    // some rows were gone already: a local insert of such a key may still be open
                    KeyProbe.probe(peer, shape, run.changes());
                    missing.add(gone);
                }
                break;
            case TRUNCATE:
                TruncateApply.apply(peer, shape, first, tables.node());
                break;
            case UPDATE:
                updateRun(peer, shape, run);
                break;
            default:
                throw new IllegalStateException("unhandled operation " + first.op());
        }
    }

    /**
     * The statement of a short insert run (an upsert, whose count nothing reads), to be sent with
     * the page's commit request instead of on its own ({@link PageEnd}, issue 15: a round trip
     * less for a small page); null for any other run, which {@link #execute} runs.
     */
    Deferred deferred(Run run) throws SQLException {
        Change first = run.first();
        if (first.op() != io.mmsync.engine.model.Op.INSERT || run.size() >= PLAIN_INSERT_MIN) {
            return null;
        }
        TableShape shape = tables.get(first);
        Integer upserts = upsertRuns.remove(shape.table); // as insertRun counts its runs
        if (upserts != null && upserts > 1) {
            upsertRuns.put(shape.table, upserts - 1);
        }
        return new Deferred(shape.insertSql(), rows(run.changes(), Change::newRow));
    }

    /**
     * An update run of a table with delta columns as statements for the page's commit request
     * ({@link LateDelta}: its rows stay locked only while that request runs), as {@link #deltaUpdate}
     * would run them (layers or one aggregating statement); null for any other run. Where rows of
     * the run are missing here the first statement fails ({@link LateDelta#MISSING}): the page is
     * then applied the plain way, which puts them back ({@link #updateRun}).
     */
    List<Deferred> lateUpdate(Run run, boolean own) throws SQLException {
        Change first = run.first();
        TableShape shape = tables.get(first);
        if (first.op() != io.mmsync.engine.model.Op.UPDATE || first.movesKey() || !shape.hasDelta()
                || (run.action != Action.APPLY && run.action != Action.DELTA_ONLY)) {
            return null;
        }
        boolean deltaOnly = run.action == Action.DELTA_ONLY;
        List<Deferred> out = deltaStatements(shape, run, deltaOnly);
        if (!deltaOnly) {
            // every row of the run has its first update in the first statement: it counts the rows found
            Deferred d = out.get(0);
            out.set(0, new Deferred(LateDelta.guarded(d.sql(), run.lastPerRow().size(), own), d.json(), d.json2()));
        }
        return out;
    }

    /**
     * An apply statement with its parameters: the rows as JSON, and for a delta update whose
     * images go as two arrays ({@link TableShape#splitPairs}), the new images (else null).
     */
    record Deferred(String sql, String json, String json2) {
        Deferred(String sql, String json) {
            this(sql, json, null);
        }
    }

    /**
     * Inserts; a long run of a keyed table tries a plain insert first, under a savepoint: in a
     * catch-up the peer has none of the rows, and the upsert costs a third more. The plain insert
     * (and a long run of a table without key) is a COPY where the images allow (see {@link CopyRun}).
     */
    private void insertRun(Connection peer, TableShape shape, Run run) throws SQLException {
        Integer upserts = upsertRuns.remove(shape.table);
        if (upserts != null && upserts > 1) {
            upsertRuns.put(shape.table, upserts - 1);
        }
        boolean plain = run.size() >= PLAIN_INSERT_MIN && upserts == null;
        if (shape.insertOnly && plain && CopyRun.copy(peer, shape, run)) {
            return;
        }
        if (shape.insertOnly || !plain) {
            update(peer, shape.insertSql(), rows(run.changes(), Change::newRow));
            return;
        }
        Savepoint sp = peer.setSavepoint();
        try {
            if (!CopyRun.copy(peer, shape, run)) {
                update(peer, shape.plainInsertSql(), rows(run.changes(), Change::newRow));
            }
            peer.releaseSavepoint(sp);
            return;
        } catch (SQLException e) {
            if (!ErrorPolicy.isUniqueViolation(e)) {
                throw e;
            }
            peer.rollback(sp);
        }
        upsertRuns.put(shape.table, UPSERT_RUNS_AFTER_MISS);
        update(peer, shape.insertSql(), rows(run.changes(), Change::newRow));
    }

    private void updateRun(Connection peer, TableShape shape, Run run) throws SQLException {
        Change first = run.first();
        if (first.movesKey()) {
            if (run.action == Action.SKIP) {
                // the peer's newer version of the old key stays; the row under its new key arrives
                update(peer, shape.insertMissingSql(), rows(run.changes(), Change::newRow));
            } else if (update(peer, shape.moveSql(), pairs(run)) == 0) {
                KeyProbe.probe(peer, shape, run.changes()); // the old key was gone: see DELETE
                update(peer, shape.insertSql(), rows(run.changes(), Change::newRow));
            }
            return;
        }
        boolean deltaOnly = run.action == Action.DELTA_ONLY;
        if (deltaOnly) {
            deltaUpdate(peer, shape, run, deltaOnly);
            return;
        }
        // a row updated more than once in the run: its last image is its new version
        List<Change> last = run.lastPerRow();
        int n = shape.hasDelta() ? deltaUpdate(peer, shape, run, deltaOnly) : update(peer, shape.updateSql(), rows(last, Change::newRow));
        if (n < last.size()) {
            // rows missing here (deleted earlier, no newer competitor): the winning version returns
            missing.add(MissingRows.ofUpdates(peer, shape, last));
            update(peer, shape.hasDelta() ? shape.insertMissingSql() : shape.insertSql(), rows(last, Change::newRow));
        }
    }

    /**
     * Runs a delta update; the rows of the run it found. With {@link TableShape#splitPairs()} the images go
     * as two arrays ({@link TableShape#deltaUpdateSql}); a run that updates a row more than once, at most
     * {@link #MAX_LAYERS} times, goes as layers of distinct rows, the first update of each row, then the
     * second, ... (the delta columns add each layer's deltas, the others end at the last image: what the
     * aggregating {@link TableShape#deltaRepeatedSql} does, at half its cost per row under pgbench -N,
     * where a page of 250 updates of 100,000 accounts repeats a row every third page; issue 15). Hotter
     * rows, and tables whose images go as pairs, take the aggregating statement.
     */
    private static int deltaUpdate(Connection peer, TableShape shape, Run run, boolean deltaOnly) throws SQLException {
        int found = 0;
        boolean first = true;
        for (Deferred d : deltaStatements(shape, run, deltaOnly)) {
            try (PreparedStatement st = peer.prepareStatement(d.sql())) {
                st.setObject(1, d.json(), Types.OTHER);
                if (d.json2() != null) {
                    st.setObject(2, d.json2(), Types.OTHER);
                }
                int n = st.executeUpdate();
                // every row of the run has its first update in the first statement: what it found is what is here
                found = first ? n : found;
                first = false;
            }
        }
        return found;
    }

    /** A delta update run's statements, as {@link #deltaUpdate} describes: one, or a layer's each. */
    private static List<Deferred> deltaStatements(TableShape shape, Run run, boolean deltaOnly) {
        List<List<Change>> layers = !shape.splitPairs() ? null : run.repeatsRows() ? layers(run.changes()) : List.of(run.changes());
        List<Deferred> out = new java.util.ArrayList<>();
        if (layers == null) {
            String sql = run.repeatsRows() ? shape.deltaRepeatedSql(deltaOnly) : shape.deltaUpdateSql(deltaOnly);
            out.add(new Deferred(sql, pairs(run)));
            return out;
        }
        for (List<Change> layer : layers) {
            out.add(new Deferred(shape.deltaUpdateSql(deltaOnly), rows(layer, Change::oldRow), rows(layer, Change::newRow)));
        }
        return out;
    }

    /** A run's updates split into layers of distinct rows (the k-th update of each row in layer k), or null past MAX_LAYERS. */
    static List<List<Change>> layers(List<Change> changes) {
        Map<String, Integer> seen = new HashMap<>();
        List<List<Change>> layers = new java.util.ArrayList<>();
        for (Change c : changes) {
            int k = seen.merge(c.key(), 1, Integer::sum) - 1;
            if (k >= MAX_LAYERS) {
                return null;
            }
            if (k == layers.size()) {
                layers.add(new java.util.ArrayList<>());
            }
            layers.get(k).add(c);
        }
        return layers;
    }

    private static int update(Connection peer, String sql, String json) throws SQLException {
        try (PreparedStatement st = peer.prepareStatement(sql)) {
            st.setObject(1, json, Types.OTHER);
            return st.executeUpdate();
        }
    }

    static String rows(List<Change> changes, Function<Change, String> row) {
        StringBuilder sb = new StringBuilder(capacity(changes));
        sb.append('[');
        for (int i = 0; i < changes.size(); i++) {
            sb.append(i > 0 ? "," : "").append(row.apply(changes.get(i)));
        }
        return sb.append(']').toString();
    }

    private static String pairs(Run run) {
        List<Change> changes = run.changes();
        StringBuilder sb = new StringBuilder(capacity(changes) + 16 * changes.size());
        sb.append('[');
        for (int i = 0; i < changes.size(); i++) {
            Change c = changes.get(i);
            sb.append(i > 0 ? "," : "").append("{\"o\":").append(c.oldRow()).append(",\"n\":").append(c.newRow()).append('}');
        }
        return sb.append(']').toString();
    }

    private static int capacity(List<Change> changes) {
        long size = 16;
        for (Change c : changes) {
            size += c.weight();
        }
        return (int) Math.min(Integer.MAX_VALUE - 64, size);
    }
}
