package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.TableRef;
import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 15: the competitor cache ({@link CompetitorCache}) finds, page after page, what the pass
 * over the queue ({@link Resolver#COMPETITORS_SQL}) finds, on a real server: local inserts,
 * updates, deletes, key moves and re-inserts of the same keys between the lookups, a transaction
 * that takes its queue ids before a lookup and commits after it (below the ids read since), and
 * the queue's oldest changes leaving it (as the purge removes them) in between. Each lookup runs as
 * the apply's does: in a transaction that took a sample first, with the mark of an origin.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class CompetitorCacheIT {
    private static final TableRef T = new TableRef("public", "t");
    private static final int KEYS = 40;
    private static PgCluster pg;

    @BeforeAll
    static void start() {
        pg = PgCluster.start("competitorcache");
        pg.execute("postgres", "CREATE EXTENSION mmsync; CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)");
        pg.execute("postgres", "SELECT mmsync.add_node('blue', '" + pg.conninfo("postgres") + "', true); "
                + "SELECT mmsync.add_node('green', 'host=127.0.0.1 port=1 dbname=none'); "
                + "SELECT mmsync.add_sync('app', '{blue,green}', initial => 'none')");
    }

    @AfterAll
    static void stop() {
        if (pg != null) {
            pg.close();
        }
    }

    @Test
    void pageAfterPageTheCacheFindsWhatThePassFinds() throws Exception {
        Random rnd = new Random(15);
        CompetitorCache cache = new CompetitorCache();
        int compared = 0;
        int found = 0;
        int fromAnId = 0;
        try (Connection apply = pg.connect("postgres"); Connection local = pg.connect("postgres");
             Connection slow = pg.connect("postgres")) {
            for (int page = 0; page < 60; page++) {
                // a transaction that takes queue ids now and commits after the next lookup
                boolean straddle = page % 7 == 3;
                if (straddle) {
                    slow.setAutoCommit(false);
                    exec(slow, "INSERT INTO t (id) VALUES (" + (1000 + page) + ") ON CONFLICT (id) DO UPDATE SET v = t.v + 1");
                }
                for (int n = rnd.nextInt(25); n > 0; n--) {
                    exec(local, localChange(rnd));
                }
                if (page % 10 == 9) {
                    // the oldest third of the queue leaves it, oldest first (as the purge removes changes)
                    exec(local, "DELETE FROM mmsync.changes WHERE id <= (SELECT min(id) + (max(id) - min(id)) / 3 FROM mmsync.changes)");
                }
                Map<Integer, Change> candidates = new LinkedHashMap<>();
                for (int i = 0; i < 30; i++) {
                    int id = rnd.nextInt(5) == 0 ? 1000 + rnd.nextInt(60) : rnd.nextInt(2 * KEYS);
                    candidates.put(i, change(id));
                }
                candidates.put(30, change(1000 + page)); // the straddling transaction's row, when there is one
                apply.setAutoCommit(false);
                if (cache.wantsSample()) {
                    CompetitorCache.sample(apply, cache);
                }
                exec(apply, "SELECT pg_catalog.set_config('mmsync.origin', 'green', true)");
                List<CompetitorCache.Found> got = cache.lookup(apply, candidates);
                Map<Integer, String> pass = pass(apply, candidates);
                if (straddle) {
                    slow.commit();
                    slow.setAutoCommit(true);
                }
                apply.commit();
                apply.setAutoCommit(true);
                assertNotNull(got, "page " + page + ": the cache answered");
                Map<Integer, String> byCache = new TreeMap<>();
                for (CompetitorCache.Found f : got) {
                    byCache.put(f.i(), f.op() + " " + f.at() + " " + f.id() + " " + f.insAt());
                }
                assertEquals(pass, byCache, "page " + page + " (" + cache.lastRead + " keys read, built " + cache.lastBuilt + ")");
                compared++;
                found += pass.size();
                fromAnId += !cache.lastBuilt && cache.lastFrom > 0 ? 1 : 0;
            }
        }
        assertEquals(60, compared);
        assertTrue(fromAnId > 40, "most lookups read from an id on, not the whole queue: " + fromAnId);
        assertTrue(found > 300, "the pages met competitors: " + found);
    }

    /** A local insert, update, delete, key move or re-insert of one of a few keys. */
    private static String localChange(Random rnd) {
        int id = rnd.nextInt(2 * KEYS);
        switch (rnd.nextInt(5)) {
            case 0:
                return "DELETE FROM t WHERE id = " + id;
            case 1:
                int to = rnd.nextInt(2 * KEYS);
                return "UPDATE t SET id = " + to + " WHERE id = " + id + " AND NOT EXISTS (SELECT 1 FROM t WHERE id = " + to + ")";
            default:
                return "INSERT INTO t (id) VALUES (" + id + ") ON CONFLICT (id) DO UPDATE SET v = t.v + 1";
        }
    }

    private static Change change(int id) {
        String row = "{\"id\": " + id + ", \"v\": 0}";
        return new Change(ChangeId.valueOf(1), T, Op.UPDATE, Instant.now(), Integer.toString(id), Integer.toString(id), row, row);
    }

    /** What the pass over the queue finds, as the cache's answers are written. */
    private static Map<Integer, String> pass(Connection c, Map<Integer, Change> candidates) throws SQLException {
        Map<Integer, String> out = new TreeMap<>();
        try (PreparedStatement st = c.prepareStatement(CompetitorSql.COMPETITORS_SQL)) {
            st.setObject(1, CompetitorSql.keys(candidates), Types.OTHER);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    out.put(rs.getInt(1), rs.getString(2) + " " + rs.getTimestamp(3) + " " + rs.getLong(4) + " " + rs.getTimestamp(5));
                }
            }
        }
        return out;
    }

    private static void exec(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }
}
