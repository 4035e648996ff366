package io.mmsync.health;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.mmsync.engine.conn.ConnInfo;
import io.mmsync.engine.time.Clock;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The agent's HTTP health endpoint (JDK HttpServer, no dependencies), modelled on Patroni's REST
 * API: health paths answer only 200 or 503; GET adds a small JSON body, HEAD and OPTIONS the
 * status line alone. Paths: /liveness, /health, /ready (/readiness), /primary, /writer, /status,
 * /metrics (docs/health.md). Probes use their own connections under a deadline ({@link Db});
 * peers are asked by the {@link Watcher} in the background, so no probe waits for a peer.
 */
public final class HealthServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(HealthServer.class.getName());
    private static final String JSON = "application/json; charset=utf-8";
    private static final String PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8";
    private static final long REPEAT_503_LOG_NANOS = 30_000_000_000L;

    private final HealthConfig config;
    private final EngineView engine;
    private final Clock clock;
    private final Db db;
    private final LocalProbe probe;
    private final Watcher watcher;
    private final Verdicts verdicts;
    private final HttpServer http;
    private final ExecutorService httpThreads;
    private final Map<String, Answer> lastAnswers = new ConcurrentHashMap<>();
    private volatile Instant lastWriterOk;

    private HealthServer(HealthConfig config, ConnInfo local, EngineView engine, Clock clock) throws IOException {
        this.config = config;
        this.engine = engine;
        this.clock = clock;
        this.db = new Db(config.probeTimeout());
        this.probe = new LocalProbe(local, db, config.probeTimeout());
        this.watcher = new Watcher(local, db, config, clock);
        this.verdicts = new Verdicts(config);
        AtomicInteger n = new AtomicInteger();
        this.httpThreads = Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "mmsync-health-http-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.http = HttpServer.create(new InetSocketAddress(InetAddress.getByName(config.bind()), config.port()), 64);
        this.http.createContext("/", this::handle);
        this.http.setExecutor(httpThreads);
    }

    /**
     * Starts the endpoint for the local database {@code localConninfo} (the agent's --db). Throws
     * IOException, with the address in the message, when it cannot listen: the agent then refuses to start.
     */
    public static HealthServer start(HealthConfig config, String localConninfo, EngineView engine) throws IOException {
        return start(config, localConninfo, engine, Clock.SYSTEM);
    }

    /** As {@link #start(HealthConfig, String, EngineView)}, with the host's clock. */
    public static HealthServer start(HealthConfig config, String localConninfo, EngineView engine, Clock clock) throws IOException {
        HealthServer s;
        try {
            s = new HealthServer(config, ConnInfo.parse(localConninfo), engine, clock);
        } catch (IOException e) {
            throw new IOException("cannot listen on " + config.bind() + ":" + config.port() + ": " + e.getMessage(), e);
        }
        s.watcher.start();
        s.http.start();
        LOG.info("mmsync health endpoint listening on http://" + s.address().getHostString() + ":" + s.address().getPort()
                + " (" + config + ")");
        return s;
    }

    /** The address actually bound (port 0 in the config picks a free one). */
    public InetSocketAddress address() {
        return http.getAddress();
    }

    /** Stops listening and the watcher; returns promptly. */
    @Override
    public void close() {
        http.stop(0);
        httpThreads.shutdownNow();
        watcher.close();
        db.close();
        LOG.info("mmsync health endpoint stopped");
    }

    private void handle(HttpExchange ex) {
        try (ex) {
            String method = ex.getRequestMethod();
            boolean bodyless = method.equals("HEAD") || method.equals("OPTIONS");
            if (!bodyless && !method.equals("GET")) {
                ex.getResponseHeaders().set("Allow", "GET, HEAD, OPTIONS");
                ex.sendResponseHeaders(405, -1);
                return;
            }
            String path = ex.getRequestURI().getPath();
            Map<String, String> q = query(ex.getRequestURI().getRawQuery());
            switch (path) {
                case "/liveness":
                    answer(ex, path, bodyless, verdicts.liveness(engine.lastLoop(), clock.instant()));
                    break;
                case "/health":
                    answer(ex, path, bodyless, verdicts.health(probe.ping()));
                    break;
                case "/ready":
                case "/readiness":
                case "/writer":
                    answerLagged(ex, path, q, bodyless);
                    break;
                case "/primary":
                    answer(ex, path, bodyless, verdicts.primary(probe.state(false)));
                    break;
                case "/status":
                    send(ex, 200, JSON, bodyless ? null : Reports.statusJson(snapshot()));
                    break;
                case "/metrics":
                    send(ex, 200, PROMETHEUS, bodyless ? null : Reports.metrics(snapshot()));
                    break;
                default:
                    send(ex, 404, JSON, bodyless ? null : "{\"error\": \"no such path; see docs/health.md\"}\n");
            }
        } catch (IOException e) {
            LOG.log(Level.FINE, "mmsync health: client went away: " + Redact.text(String.valueOf(e.getMessage())));
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "mmsync health: request " + Redact.text(String.valueOf(ex.getRequestURI()))
                    + " failed (the client gets no answer, which a check counts as down): " + Redact.text(String.valueOf(e)), e);
        }
    }

    private void answerLagged(HttpExchange ex, String path, Map<String, String> q, boolean bodyless) throws IOException {
        Ask ask;
        try {
            ask = Ask.parse(q, config.defaultLag());
        } catch (IllegalArgumentException e) {
            answer(ex, path, bodyless, Verdict.fail(e.getMessage(), Map.of()));
            return;
        }
        LocalState local = probe.state(false);
        Instant now = clock.instant();
        Verdict v;
        if (path.equals("/writer")) {
            v = verdicts.writer(local, watcher.ticked(), watcher.peers(), ask, serving(local, now), now);
            if (!v.ok()) {
                lastWriterOk = null;
            } else if (!local.node().equals(ask.backup())) {
                lastWriterOk = now;
            }
        } else {
            v = verdicts.ready(local, watcher.ticked(), watcher.peers(), ask, now);
        }
        answer(ex, path + "?" + ask.query(), bodyless, v);
    }

    /**
     * True if this node has been taking the writes: /writer answered 200 as a non-backup server
     * within the stickiness time, no 503 since, and the local server has not restarted since.
     */
    private boolean serving(LocalState local, Instant now) {
        Instant last = lastWriterOk;
        return last != null && !last.plus(config.stickiness()).isBefore(now)
                && local.startedAt() != null && local.startedAt().isBefore(last);
    }

    private Reports.Snapshot snapshot() {
        LocalState local = probe.state(true);
        Instant now = clock.instant();
        Map<String, PeerHistory> peers = watcher.peers();
        Ask ask = Ask.of(config.defaultLag());
        return new Reports.Snapshot(now, local, watcher.lastError(), peers, config.peerStale(), engine.lastLoop(),
                verdicts.ready(local, watcher.ticked(), peers, ask, now),
                verdicts.writer(local, watcher.ticked(), peers, ask, serving(local, now), now));
    }

    /** The last logged answer of a check. */
    private record Answer(boolean ok, long loggedAtNanos) {
    }

    /**
     * Sends a health answer. Logs it (Patroni logs the reason of a 503) when the answer of this
     * check changes, and while it stays 503 again every 30 s with the current reason.
     */
    private void answer(HttpExchange ex, String check, boolean bodyless, Verdict v) throws IOException {
        long now = clock.nanoTime();
        Answer before = lastAnswers.get(check);
        boolean changed = before == null ? !v.ok() : before.ok() != v.ok();
        if (changed || (!v.ok() && now - before.loggedAtNanos() > REPEAT_503_LOG_NANOS)) {
            lastAnswers.put(check, new Answer(v.ok(), now));
            String node = watcher.node();
            LOG.info("mmsync health" + (node == null ? "" : " " + node) + ": " + check
                    + (changed ? " answers " : " still answers ") + v.httpStatus() + ": " + v.reason());
        } else if (before == null) {
            lastAnswers.put(check, new Answer(true, now));
        }
        String body = null;
        if (!bodyless) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("status", v.httpStatus());
            m.put("reason", v.reason());
            m.putAll(v.facts());
            body = Reports.GSON.toJson(m) + "\n";
        }
        send(ex, v.httpStatus(), JSON, body);
    }

    private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        if (body == null) {
            ex.sendResponseHeaders(status, -1);
            return;
        }
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    static Map<String, String> query(String raw) {
        Map<String, String> m = new LinkedHashMap<>();
        if (raw == null || raw.isEmpty()) {
            return m;
        }
        for (String kv : raw.split("&")) {
            if (kv.isEmpty()) {
                continue;
            }
            int eq = kv.indexOf('=');
            String k = URLDecoder.decode(eq < 0 ? kv : kv.substring(0, eq), StandardCharsets.UTF_8);
            String v = eq < 0 ? "" : URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8);
            m.putIfAbsent(k, v);
        }
        return m;
    }
}
