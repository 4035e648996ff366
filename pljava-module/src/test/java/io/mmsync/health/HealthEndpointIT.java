package io.mmsync.health;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.mmsync.it.Waits;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each path of the health endpoint against a real pair: 200 vs 503, bodies, HEAD/OPTIONS, metrics. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(120)
class HealthEndpointIT {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private HealthPair pair;

    @BeforeAll
    void startPair() {
        pair = HealthPair.start("health", b -> b.handover(Duration.ofSeconds(2)));
    }

    @AfterAll
    void stopPair() {
        if (pair != null) {
            pair.close();
        }
    }

    private static JsonObject json(Http.Response r) {
        return JsonParser.parseString(r.body()).getAsJsonObject();
    }

    @Test
    void livenessIs200WhileTheEngineLoopsAnd503WhenItsLoopIsStale() throws Exception {
        Http.Response live = pair.blue.get("/liveness");
        assertEquals(200, live.status(), live.body());
        assertTrue(json(live).get("last_loop_age_seconds").getAsDouble() < 30, live.body());

        HealthConfig cfg = HealthConfig.builder().port(0).build();
        try (HealthServer stale = HealthServer.start(cfg, pair.blue.conninfo(), () -> Instant.now().minusSeconds(31))) {
            Http.Response r = Http.get(stale.address(), "/liveness");
            assertEquals(503, r.status(), r.body());
            assertTrue(json(r).get("reason").getAsString().contains("has not run for"), r.body());
        }
    }

    @Test
    void headAndOptionsSendTheStatusLineOnlyAndGetAddsJson() {
        Http.Response get = pair.blue.get("/health");
        assertEquals(200, get.status());
        assertEquals(200, json(get).get("status").getAsInt());
        assertTrue(get.head().toLowerCase().contains("content-type: application/json"), get.head());

        for (String path : new String[] {"/health", "/ready", "/liveness", "/writer", "/status", "/metrics"}) {
            for (String method : new String[] {"HEAD", "OPTIONS"}) {
                Http.Response r = Http.request(pair.blue.health(), method, path);
                assertEquals(200, r.status(), method + " " + path);
                assertEquals("", r.body(), method + " " + path + " must send no body");
            }
        }
        Http.Response head503 = Http.request(pair.blue.health(), "HEAD", "/primary");
        assertEquals(503, head503.status());
        assertEquals("", head503.body());

        Http.Response post = Http.request(pair.blue.health(), "POST", "/ready");
        assertEquals(405, post.status());
        assertTrue(post.head().contains("Allow: GET, HEAD, OPTIONS"), post.head());
        assertEquals(404, pair.blue.get("/nope").status());
        Http.Response badLag = pair.blue.get("/ready?lag=soon");
        assertEquals(503, badLag.status());
        assertTrue(json(badLag).get("reason").getAsString().contains("bad lag \"soon\""), badLag.body());
    }

    @Test
    void readyIs503WhileThePeerStillHasChangesForThisNode() throws Exception {
        // green's link stays connected but cannot apply here while this transaction locks t on blue,
        // so green's backlog for blue grows old while the link is up
        try (Connection lock = pair.blue.pg.connect(HealthPair.DB); Statement st = lock.createStatement()) {
            lock.setAutoCommit(false);
            st.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
            pair.green.sql("INSERT INTO t SELECT g, 'from green ' || g FROM generate_series(1, 50) g");
            Waits.until(WAIT, "blue sees green's backlog", () -> pair.blue.get("/ready?lag=0").status() == 503,
                    () -> pair.blue.get("/ready?lag=0").body());
            JsonObject body = json(pair.blue.get("/ready?lag=0"));
            assertEquals(50, body.get("peer_backlog").getAsLong(), body.toString());
            assertTrue(body.get("reason").getAsString().startsWith("peer green still has 50 changes to send here"), body.toString());
            Http.Response within = pair.blue.get("/ready?lag=50");
            assertEquals(200, within.status(), "50 changes are within lag=50: " + within.body());
            Waits.until(WAIT, "the oldest change is older than 1 s", () -> pair.blue.get("/ready?lag=1s").status() == 503);
            assertEquals(200, pair.blue.get("/ready?lag=1h").status());
            lock.rollback();
        }
        Waits.until(WAIT, "blue caught up", () -> pair.blue.get("/ready?lag=0").status() == 200,
                () -> pair.blue.get("/ready?lag=0").body());
        assertEquals(50, pair.blue.pg.queryLong(HealthPair.DB, "SELECT count(*) FROM t WHERE id <= 50"),
                "ready means the 50 rows have arrived");
    }

    @Test
    void readyIs503WhileTheLocalDatabaseIsReadOnly() {
        pair.blue.pg.execute("postgres", "ALTER DATABASE app SET default_transaction_read_only = on");
        try {
            Http.Response r = pair.blue.get("/ready");
            assertEquals(503, r.status(), r.body());
            assertTrue(json(r).get("reason").getAsString().contains("read-only"), r.body());
            assertEquals(200, pair.blue.get("/health").status(), "read-only PostgreSQL is still healthy");
        } finally {
            pair.blue.pg.execute("postgres", "ALTER DATABASE app RESET default_transaction_read_only");
        }
        assertEquals(200, pair.blue.get("/ready").status());
    }

    @Test
    void aPeerThatIsDownCountsAsCaughtUpUnlessPeerRequired() {
        pair.green.pg.stop();
        try {
            Http.Response h = pair.green.get("/health");
            assertEquals(503, h.status(), h.body());
            assertTrue(json(h).get("reason").getAsString().startsWith("local database unavailable"), h.body());
            assertEquals(503, pair.green.get("/ready").status());
            Waits.until(WAIT, "blue notices green is gone",
                    () -> json(pair.blue.get("/status")).getAsJsonArray("peers").get(0).getAsJsonObject()
                            .get("reachable").getAsBoolean() == false);
            Http.Response r = pair.blue.get("/ready");
            assertEquals(200, r.status(), r.body());
            assertTrue(json(r).get("reason").getAsString().contains("peer green cannot be asked"), r.body());
            Http.Response strict = pair.blue.get("/ready?peer=required");
            assertEquals(503, strict.status(), strict.body());
        } finally {
            pair.green.pg.start();
        }
        Waits.until(WAIT, "green ready again", () -> pair.green.get("/ready").status() == 200);
        Waits.until(WAIT, "blue asks green again", () -> pair.blue.get("/ready?peer=required").status() == 200);
    }

    @Test
    void primaryFollowsSetPrimaryCalledOnEitherNode() {
        assertEquals(503, pair.blue.get("/primary").status(), "no designated node yet");
        assertEquals(200, pair.blue.get("/writer").status(), "without a designated node every ready node may take writes");
        assertEquals(200, pair.green.get("/writer").status());

        pair.blue.sql("SELECT mmsync.set_primary('green')");
        Waits.until(WAIT, "green learns it is the designated node",
                () -> "green".equals(pair.green.pg.queryString(HealthPair.DB, "SELECT mmsync.primary()")));
        assertEquals(200, pair.green.get("/primary").status());
        Http.Response bp = pair.blue.get("/primary");
        assertEquals(503, bp.status());
        assertEquals("the designated write node is green", json(bp).get("reason").getAsString());
        Waits.until(WAIT, "blue hands the writes over", () -> pair.blue.get("/writer").status() == 503,
                () -> pair.blue.get("/writer").body());
        assertEquals(200, pair.green.get("/writer").status());
        assertEquals(200, pair.blue.get("/writer?backup=blue").status(), "HAProxy's backup only needs to be writable");

        pair.green.sql("SELECT mmsync.set_primary('blue')");
        Waits.until(WAIT, "blue learns it is the designated node again",
                () -> "blue".equals(pair.blue.pg.queryString(HealthPair.DB, "SELECT mmsync.primary()")));
        assertEquals(200, pair.blue.get("/primary").status());
        assertEquals(200, pair.blue.get("/writer").status());
        Waits.until(WAIT, "green hands the writes over", () -> pair.green.get("/writer").status() == 503);

        pair.blue.sql("SELECT mmsync.set_primary(NULL)");
        Waits.until(WAIT, "both nodes without designated node", () -> pair.green.pg.queryString(HealthPair.DB,
                "SELECT coalesce(mmsync.primary(), 'none')").equals("none"));
        Waits.until(WAIT, "green may take writes again", () -> pair.green.get("/writer").status() == 200);
        assertEquals(503, pair.blue.get("/primary").status());
    }

    @Test
    void statusShowsTheLinksAndNoConnectionStrings() {
        pair.blue.sql("INSERT INTO t SELECT g, 'status ' || g FROM generate_series(1001, 1010) g");
        pair.awaitSynced();
        Http.Response r = pair.blue.get("/status");
        assertEquals(200, r.status());
        JsonObject s = json(r);
        assertEquals("blue", s.get("node").getAsString());
        JsonObject sync = s.getAsJsonArray("syncs").get(0).getAsJsonObject();
        assertEquals("s", sync.get("sync").getAsString());
        assertEquals("green", sync.get("peer").getAsString());
        assertEquals(0, sync.get("backlog").getAsLong());
        assertTrue(sync.get("rows_sent").getAsLong() >= 10, r.body());
        JsonObject peer = s.getAsJsonArray("peers").get(0).getAsJsonObject();
        assertEquals("green", peer.get("node").getAsString());
        assertTrue(peer.get("reachable").getAsBoolean(), r.body());
        assertFalse(r.body().contains("host=") || r.body().contains("port=") || r.body().contains("dbname"), r.body());
        assertTrue(sync.get("verified_at").isJsonNull(), r.body());
        // issue 17: when a compare (by hand or scheduled) last found the nodes identical
        pair.blue.sql("INSERT INTO mmsync.compare_runs (sync_name, peer, tables, finished_at, outcome) "
                + "VALUES ('s', 'green', '{public.t}', '2026-12-07 01:02:03+00', 'identical')");
        try {
            Http.Response v = pair.blue.get("/status");
            assertEquals("2026-12-07T01:02:03Z", json(v).getAsJsonArray("syncs").get(0).getAsJsonObject().get("verified_at").getAsString(),
                    v.body());
        } finally {
            pair.blue.sql("DELETE FROM mmsync.compare_runs WHERE sync_name = 's'");
        }
    }

    /** Issue 12: the progress of an initial copy (mmsync.copy_status()) is in /status while it runs. */
    @Test
    void statusShowsAnInitialCopyInProgress() {
        pair.blue.sql("INSERT INTO mmsync.copy_tables (sync_name, target, schema_name, table_name, ord, rows_total, rows_done,"
                + " bytes_done, started_at, updated_at) VALUES ('s', 'green', 'public', 't', 1, 1000, 250, 65536,"
                + " now() - interval '10 seconds', now())");
        try {
            Http.Response r = pair.blue.get("/status");
            assertEquals(200, r.status());
            JsonObject copy = json(r).getAsJsonArray("copies").get(0).getAsJsonObject();
            assertEquals("public.t", copy.get("table").getAsString(), r.body());
            assertEquals("copying", copy.get("state").getAsString(), r.body());
            assertEquals(250, copy.get("rows_done").getAsLong());
            assertEquals(1000, copy.get("rows_total").getAsLong());
            assertEquals(65536, copy.get("bytes_done").getAsLong());
            assertEquals(25.0, copy.get("rows_per_second").getAsDouble(), 1.0, r.body());
            assertEquals(30.0, copy.get("eta_seconds").getAsDouble(), 1.5, r.body());
        } finally {
            pair.blue.sql("DELETE FROM mmsync.copy_tables WHERE sync_name = 's'");
        }
        assertEquals(0, json(pair.blue.get("/status")).getAsJsonArray("copies").size());
    }

    private static final Pattern SAMPLE = Pattern.compile(
            "([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{((?:[a-zA-Z_]\\w*=\"(?:[^\"\\\\]|\\\\.)*\",?)*)})? (-?[0-9.]+(?:[eE][-+]?\\d+)?|NaN|[+-]Inf)");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_]\\w*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

    @Test
    void metricsParseAsPrometheusText() {
        pair.blue.sql("INSERT INTO t SELECT g, 'metrics ' || g FROM generate_series(2001, 2025) g");
        pair.awaitSynced();
        // two conflict records as the resolver writes them (a kept local version): exported per sync and peer
        pair.blue.sql("INSERT INTO mmsync.conflicts (sync_name, schema_name, table_name, key, kind, strategy, resolution, "
                + "origin, origin_change) VALUES ('s', 'public', 't', '{\"id\": 1}', 'update_update', 'latest', 'local_kept', 'green', 1), "
                + "('s', 'public', 't', '{\"id\": 2}', 'update_update', 'latest', 'local_kept', 'green', 2)");
        Http.Response r;
        try {
            r = pair.blue.get("/metrics");
        } finally {
            pair.blue.sql("DELETE FROM mmsync.conflicts WHERE sync_name = 's' AND origin_change IN (1, 2)");
        }
        assertEquals(200, r.status());
        assertTrue(r.head().toLowerCase().contains("content-type: text/plain; version=0.0.4"), r.head());
        Map<String, String> types = new HashMap<>();
        Map<String, Double> samples = new HashMap<>();
        for (String line : r.body().split("\n")) {
            if (line.startsWith("# TYPE ")) {
                String[] f = line.split(" ");
                assertEquals(4, f.length, line);
                assertTrue(f[3].equals("gauge") || f[3].equals("counter"), line);
                types.put(f[2], f[3]);
            } else if (!line.startsWith("# HELP ")) {
                Matcher m = SAMPLE.matcher(line);
                assertTrue(m.matches(), "not a sample line: " + line);
                assertTrue(types.containsKey(m.group(1)), "sample before its TYPE: " + line);
                StringBuilder key = new StringBuilder(m.group(1));
                if (m.group(2) != null) {
                    Matcher l = LABEL.matcher(m.group(2));
                    while (l.find()) {
                        key.append(' ').append(l.group(1)).append('=').append(l.group(2));
                    }
                }
                samples.put(key.toString(), Double.parseDouble(m.group(3)));
            }
        }
        assertEquals("counter", types.get("mmsync_rows_sent_total"));
        assertEquals(1.0, samples.get("mmsync_up"));
        assertEquals(0.0, samples.get("mmsync_backlog sync=s peer=green"));
        assertEquals(0.0, samples.get("mmsync_lag_seconds sync=s peer=green"));
        assertTrue(samples.get("mmsync_rows_sent_total sync=s peer=green") >= 25, samples.toString());
        assertTrue(samples.containsKey("mmsync_rows_applied_total sync=s peer=green"), samples.toString());
        assertEquals(1.0, samples.get("mmsync_peer_reachable peer=green"));
        assertEquals("gauge", types.get("mmsync_conflicts"));
        assertEquals(2.0, samples.get("mmsync_conflicts sync=s peer=green"), samples.toString());
        assertEquals(0.0, samples.get("mmsync_set_aside sync=s peer=green"), samples.toString());
    }
}
