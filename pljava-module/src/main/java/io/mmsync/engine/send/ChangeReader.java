package io.mmsync.engine.send;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.KeySql;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.Page;
import io.mmsync.engine.model.Position;
import io.mmsync.engine.model.TableRef;
import io.mmsync.engine.time.Clock;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the local queue ({@code mmsync.changes}) page by page. A page holds the changes of one
 * snapshot range ("visible in hi, not in lo") with id above the position's last id, in id
 * order, bounded by rows and bytes. Rows stream through a cursor: a page is never loaded whole
 * from the server before it is cut.
 */
final class ChangeReader {
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(ChangeReader.class.getName());
    // The page is cut from the queue's primary key first (index scan from the last id, LIMIT),
    // then joined to the small catalog tables: the queue is never scanned whole for a page. With
    // few synced tables the page's rows stream through a nested loop over them, in id order; with
    // the page as a materialized CTE (PAGE_SQL_MANY_TABLES) the planner hashes the page's rows,
    // images included, and sorts them again: a fifth of the origin's CPU for the read (0.28-0.30
    // -> 0.23-0.24 s per 100,000 changes, bench/README.md), but it does not grow with the number
    // of tables as the nested loop does.
    // The synced tables, named: each looked up in pg_class by its oid (a lateral join, OFFSET 0 so that
    // it stays one). As a plain join the generic plan hashed sync_tables (never analyzed: the planner
    // guesses hundreds of rows) against a seq scan of the whole of pg_class at every page: 577 rows
    // in the bench's database, many more in one with thousands of tables (issue 15, lag6).
    private static final String TABS = "tabs AS MATERIALIZED (SELECT t.relid, t.pk_cols, t.mode, r.nspname, r.relname "
            + "FROM mmsync.sync_tables t CROSS JOIN LATERAL (SELECT n.nspname, cl.relname FROM pg_catalog.pg_class cl "
            + "JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace WHERE cl.oid = t.relid OFFSET 0) AS r)";
    static final String PAGE_SQL = "WITH " + TABS + " "
            + "SELECT c.id, t.nspname, t.relname, c.op, c.at, c.old::text, c.new::text, "
            + "CASE WHEN c.op = 'T' OR t.mode = 'insert_only' THEN 'id:' || c.id ELSE "
            + KeySql.of("t.pk_cols", "coalesce(c.old, c.new)") + " END AS key, "
            + "CASE WHEN c.op = 'U' THEN " + KeySql.of("t.pk_cols", "c.new") + " END AS newkey, "
            + "t.mode = 'insert_only' AS insert_only "
            + "FROM (SELECT c.id, c.relid, c.op, c.at, c.old, c.new "
            + "FROM mmsync.changes c WHERE c.sync_id = ? AND c.id > ? "
            + "AND pg_catalog.pg_visible_in_snapshot(c.xid, ?::pg_snapshot) "
            + "AND (?::pg_snapshot IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(c.xid, ?::pg_snapshot)) "
            + "ORDER BY c.id LIMIT ?) AS c JOIN tabs AS t ON t.relid = c.relid "
            + "ORDER BY c.id";
    /** Up to this many synced tables a page is read by {@link #PAGE_SQL}. */
    static final int FEW_TABLES = 16;
    static final String PAGE_SQL_MANY_TABLES = "WITH p AS MATERIALIZED (SELECT c.id, c.relid, c.op, c.at, c.old, c.new "
            + "FROM mmsync.changes c WHERE c.sync_id = ? AND c.id > ? "
            + "AND pg_catalog.pg_visible_in_snapshot(c.xid, ?::pg_snapshot) "
            + "AND (?::pg_snapshot IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(c.xid, ?::pg_snapshot)) "
            + "ORDER BY c.id LIMIT ?), "
            // the few synced tables, named: the side the join hashes, not the page's rows
            + TABS + " "
            + "SELECT c.id, t.nspname, t.relname, c.op, c.at, c.old::text, c.new::text, "
            + "CASE WHEN c.op = 'T' OR t.mode = 'insert_only' THEN 'id:' || c.id ELSE "
            + KeySql.of("t.pk_cols", "coalesce(c.old, c.new)") + " END AS key, "
            + "CASE WHEN c.op = 'U' THEN " + KeySql.of("t.pk_cols", "c.new") + " END AS newkey, "
            + "t.mode = 'insert_only' AS insert_only "
            + "FROM p AS c JOIN tabs AS t ON t.relid = c.relid "
            + "ORDER BY c.id";

    static final String STATE_SQL = "SELECT pg_catalog.pg_current_snapshot()::text, s.id, s.paused, s.removed, s.version, "
            + "s.conflict, s.prefer, (SELECT pg_catalog.count(*) FROM mmsync.sync_tables) FROM mmsync.syncs s WHERE s.name = ?";

    /**
     * The page queries with the range's upper snapshot taken from the setting {@code mmsync.turn_hi}
     * (set by the sync row's statement of the same request, {@link LocalTurn#quick}) instead of a
     * parameter; parameters: sync id, last id, lo, lo, limit.
     */
    static final String QUICK_PAGE_SQL = withTurnHi(PAGE_SQL);
    static final String QUICK_PAGE_SQL_MANY_TABLES = withTurnHi(PAGE_SQL_MANY_TABLES);
    static final String TURN_HI = "pg_catalog.current_setting('mmsync.turn_hi', true)";

    /** Rows of the first fetch of a page; later fetches hold about FETCH_BYTES each. */
    private static final int FIRST_FETCH = 64;
    private static final long FETCH_BYTES = 1L << 20;

    /** Tables {@link #table} keeps the instances of (the last ones met), scanned in turn. */
    private static final int KNOWN_TABLES = 16;

    private final int maxRows;
    /** the tables of the pages read lately, one instance each (guarded by itself) */
    private final List<TableRef> tableRefs = new ArrayList<>();
    private final long maxBytes;
    /** where a new range's first page starts walking the queue's index */
    private final RangeFloor rangeFloor;
    /** synced tables (of any sync) at the last {@link #tablesSeen}, -1 before: which page query to use */
    private volatile long tables = -1;

    ChangeReader(int maxRows, long maxBytes, Clock clock) {
        this.maxRows = maxRows;
        this.maxBytes = maxBytes;
        this.rangeFloor = new RangeFloor(clock);
    }

    /**
     * The number of synced tables (of any sync) the turn's sync row counted ({@link #STATE_SQL}'s
     * last column): which page query to use.
     */
    void tablesSeen(long n) {
        if (tables < 0 || (n <= FEW_TABLES) != (tables <= FEW_TABLES)) {
            LOG.fine(() -> n + " synced tables: pages are read " + (n <= FEW_TABLES
                    ? "through a nested loop over the tables" : "as a materialized page joined to the tables"));
        }
        tables = n;
    }

    /** Samples the queue's range floor when due ({@link RangeFloor}; its own transaction, autocommit). */
    void sampleFloor(Connection local) throws SQLException {
        rangeFloor.sampleIfDue(local);
    }

    /** Reads the next page after {@code pos}, which must have an open range, in a transaction of its own. */
    Page read(Connection local, int syncId, Position pos) throws SQLException {
        boolean wasAuto = local.getAutoCommit();
        local.setAutoCommit(false);
        try {
            try (Statement plan = local.createStatement()) {
                plan.execute(LocalTurn.SETTINGS_SQL);
            }
            Page page = readOpen(local, syncId, pos);
            local.commit();
            return page;
        } catch (SQLException | RuntimeException e) {
            local.rollback();
            throw e;
        } finally {
            local.setAutoCommit(wasAuto);
        }
    }

    /**
     * Reads the next page after {@code pos} in the transaction open on {@code local}, which has the
     * planner settings of {@link LocalTurn#SETTINGS_SQL}: a page walks the primary key from the last
     * id; without them the planner, which cannot estimate the snapshot filter, sorts everything
     * after the last id for each page (and JIT would compile the plan that enable_sort = off makes
     * look expensive).
     */
    Page readOpen(Connection local, int syncId, Position pos) throws SQLException {
        try (PreparedStatement st = local.prepareStatement(tables >= 0 && tables <= FEW_TABLES ? PAGE_SQL : PAGE_SQL_MANY_TABLES)) {
            st.setFetchSize(FIRST_FETCH);
            int p = bind(st, 1, syncId, pos);
            // untyped parameters: the server types them pg_snapshot and parses each once, not per row
            st.setObject(p, pos.hi(), Types.OTHER);
            st.setObject(p + 1, pos.lo(), Types.OTHER);
            st.setObject(p + 2, pos.lo(), Types.OTHER);
            st.setInt(p + 3, maxRows);
            try (ResultSet rs = st.executeQuery()) {
                return collect(rs, pos, maxRows);
            }
        }
    }

    /** The quick page query of {@link #QUICK_PAGE_SQL} for the number of tables last seen. */
    String quickSql() {
        return tables >= 0 && tables <= FEW_TABLES ? QUICK_PAGE_SQL : QUICK_PAGE_SQL_MANY_TABLES;
    }

    /**
     * Binds {@link #quickSql()}'s parameters from {@code from}: the first page of a new range of
     * sync {@code syncId} after {@code pos} (which has no open range), at most {@code limit} rows;
     * the index of the next parameter.
     */
    int bindQuick(PreparedStatement st, int from, int syncId, Position pos, int limit) throws SQLException {
        int p = bind(st, from, syncId, pos);
        st.setObject(p, pos.lo(), Types.OTHER);
        st.setObject(p + 1, pos.lo(), Types.OTHER);
        st.setInt(p + 2, limit);
        return p + 3;
    }

    /** Binds the sync id and the id the page starts above; the index of the next parameter. */
    private int bind(PreparedStatement st, int from, int syncId, Position pos) throws SQLException {
        st.setInt(from, syncId);
        // a range's first page starts above the ids no change of the range can have (RangeFloor)
        st.setLong(from + 1, pos.lastId().equals(ChangeId.NONE) ? rangeFloor.below(pos.lo()) : pos.lastId().asLong());
        return from + 2;
    }

    /** The page in {@code rs} (read at most {@code limit} rows) of the range open in {@code pos}. */
    Page collect(ResultSet rs, Position pos, int limit) throws SQLException {
        List<Change> changes = new ArrayList<>();
        long bytes = 0;
        boolean cut = false;
        TableRef table = null;
        while (rs.next()) {
            table = table(rs, table, tableRefs);
            Change c = toChange(rs, table);
            changes.add(c);
            bytes += c.weight();
            if (changes.size() == FIRST_FETCH && limit > FIRST_FETCH) {
                // rows fetched per round trip: as many as fit FETCH_BYTES at the size seen so far
                rs.setFetchSize((int) Math.max(FIRST_FETCH, Math.min(limit, FETCH_BYTES * FIRST_FETCH / bytes)));
            }
            if (bytes >= maxBytes && changes.size() < limit) {
                cut = true;
                break;
            }
        }
        boolean complete = !cut && changes.size() < limit;
        Position next = complete ? pos.rangeDone()
                : pos.advancedTo(changes.get(changes.size() - 1).id());
        return new Page(changes, next, complete);
    }

    /** {@code pageSql} with its upper snapshot parameter replaced by {@link #TURN_HI}. */
    private static String withTurnHi(String pageSql) {
        String hi = "AND pg_catalog.pg_visible_in_snapshot(c.xid, ?::pg_snapshot) AND (?::pg_snapshot IS NULL";
        int at = pageSql.indexOf(hi);
        if (at < 0 || pageSql.indexOf(hi, at + 1) >= 0) {
            throw new IllegalStateException("ChangeReader: the page query's upper snapshot parameter is not where withTurnHi expects it");
        }
        return pageSql.replace(hi, "AND pg_catalog.pg_visible_in_snapshot(c.xid, NULLIF(" + TURN_HI
                + ", '')::pg_snapshot) AND (?::pg_snapshot IS NULL");
    }

    /**
     * The row's table: {@code last} if it is the same, else the instance {@code known} holds for it
     * (a page's changes share a few tables, whose map look-ups then compare the same instance: under
     * pgbench -N, whose rows alternate between two tables, a new instance per row made every look-up
     * compare names, issue 14), else a new one, kept there.
     */
    private static TableRef table(ResultSet rs, TableRef last, List<TableRef> known) throws SQLException {
        String schema = rs.getString(2);
        String name = rs.getString(3);
        if (last != null && last.name().equals(name) && last.schema().equals(schema)) {
            return last;
        }
        synchronized (known) { // ReadAhead's thread reads pages too
            for (TableRef t : known) {
                if (t.name().equals(name) && t.schema().equals(schema)) {
                    return t;
                }
            }
            TableRef t = new TableRef(schema, name);
            if (known.size() >= KNOWN_TABLES) {
                known.remove(0);
            }
            known.add(t);
            return t;
        }
    }

    private static Change toChange(ResultSet rs, TableRef table) throws SQLException {
        // as OffsetDateTime: pgJDBC's Timestamp goes through a Calendar per value
        OffsetDateTime at = rs.getObject(5, OffsetDateTime.class);
        return new Change(ChangeId.valueOf(rs.getLong(1)), table,
                Op.fromCode(rs.getString(4)), at == null ? null : at.toInstant(),
                rs.getString(8), rs.getString(9), rs.getString(6), rs.getString(7), rs.getBoolean(10));
    }
}
