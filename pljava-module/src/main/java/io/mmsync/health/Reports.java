package io.mmsync.health;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The bodies of /status (JSON) and /metrics (Prometheus text format 0.0.4). Everything shown comes
 * from mmsync.status(), the watcher and the engine loop; never a conninfo, and every error text
 * passes through {@link Redact}.
 */
final class Reports {
    static final Gson GSON = new GsonBuilder().serializeNulls().disableHtmlEscaping().create();

    private Reports() {
    }

    /** Everything a probe and the watcher know, at one instant. */
    record Snapshot(Instant now, LocalState local, String watcherError, Map<String, PeerHistory> peers,
                    Duration peerStale, Instant lastLoop, Verdict ready, Verdict writer) {
    }

    static String statusJson(Snapshot s) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("node", s.local().node());
        root.put("time", s.now().toString());
        root.put("primary", s.local().primary());
        root.put("ready", verdictMap(s.ready()));
        root.put("writer", verdictMap(s.writer()));
        Map<String, Object> local = new LinkedHashMap<>();
        local.put("up", s.local().up());
        local.put("in_recovery", s.local().inRecovery());
        local.put("read_only", s.local().readOnly());
        local.put("error", s.local().error());
        local.put("watcher_error", s.watcherError());
        root.put("local", local);
        Map<String, Object> engine = new LinkedHashMap<>();
        engine.put("last_loop_age_seconds", Verdicts.round(age(s.lastLoop(), s.now())));
        engine.put("host", s.local().engineHost());
        root.put("engine", engine);
        List<Map<String, Object>> syncs = new ArrayList<>();
        for (LocalState.SyncRow r : s.local().syncs()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("sync", r.sync());
            m.put("peer", r.peer());
            m.put("state", r.state());
            m.put("backlog", r.backlog());
            m.put("lag_seconds", r.lagSeconds());
            m.put("rows_sent", r.rowsSent());
            m.put("rows_applied", r.rowsApplied());
            m.put("last_error", r.lastError());
            m.put("conflicts", r.conflicts());
            m.put("set_aside", r.setAside());
            m.put("merged_deltas", r.mergedDeltas());
            m.put("verified_at", r.verifiedAt() == null ? null : r.verifiedAt().toString());
            syncs.add(m);
        }
        root.put("syncs", syncs);
        List<Map<String, Object>> files = new ArrayList<>();
        for (LocalState.FileRow f : s.local().files()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("sync", f.sync());
            m.put("name", f.name());
            m.put("peer", f.peer());
            m.put("files_pending", f.filesPending());
            m.put("bytes_pending", f.bytesPending());
            m.put("files_synced", f.filesSynced());
            m.put("last_file", f.lastFile());
            m.put("last_file_at", f.lastFileAt() == null ? null : f.lastFileAt().toString());
            m.put("last_error", f.lastError());
            files.add(m);
        }
        root.put("files", files);
        List<Map<String, Object>> copies = new ArrayList<>();
        for (LocalState.CopyRow t : s.local().copies()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("sync", t.sync());
            m.put("peer", t.peer());
            m.put("table", t.table());
            m.put("state", t.state());
            m.put("rows_done", t.rowsDone());
            m.put("rows_total", t.rowsTotal());
            m.put("bytes_done", t.bytesDone());
            m.put("rows_per_second", t.rowsPerSecond());
            m.put("eta_seconds", t.etaSeconds());
            copies.add(m);
        }
        root.put("copies", copies);
        List<Map<String, Object>> peers = new ArrayList<>();
        s.peers().forEach((name, h) -> {
            PeerSample p = h.latest();
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("node", name);
            m.put("reachable", p != null && p.reachable());
            m.put("asked_seconds_ago", p == null ? null : Verdicts.round(age(p.at(), s.now())));
            m.put("writable", p != null && p.writable());
            m.put("backlog_to_here", p == null || !p.reachable() ? null : p.backlogToMe());
            m.put("lag_to_here_seconds", p == null || !p.reachable() ? null : p.lagToMe());
            m.put("backlog_from_here", p == null || !p.localOk() ? null : p.ourBacklog());
            m.put("health_beat_age_seconds", p == null ? null : p.beatAge());
            m.put("error", p == null ? "not asked yet" : p.error());
            peers.add(m);
        });
        root.put("peers", peers);
        return GSON.toJson(root) + "\n";
    }

    static Map<String, Object> verdictMap(Verdict v) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ok", v.ok());
        m.put("reason", v.reason());
        return m;
    }

    static String metrics(Snapshot s) {
        StringBuilder b = new StringBuilder(2048);
        gauge(b, "mmsync_up", "1 if the local database answered the probe, else 0.");
        b.append("mmsync_up ").append(s.local().up() ? 1 : 0).append('\n');
        gauge(b, "mmsync_ready", "1 if /ready (default lag) answers 200.");
        b.append("mmsync_ready ").append(s.ready().ok() ? 1 : 0).append('\n');
        gauge(b, "mmsync_writer", "1 if /writer (default lag) answers 200: HAProxy may send the writes here.");
        b.append("mmsync_writer ").append(s.writer().ok() ? 1 : 0).append('\n');
        gauge(b, "mmsync_primary", "1 if this node is the designated write node.");
        b.append("mmsync_primary ").append(s.local().node() != null && s.local().node().equals(s.local().primary()) ? 1 : 0)
                .append('\n');
        gauge(b, "mmsync_engine_loop_age_seconds", "Seconds since the engine's supervising loop last completed a round.");
        b.append("mmsync_engine_loop_age_seconds ").append(num(age(s.lastLoop(), s.now()))).append('\n');
        List<LocalState.SyncRow> rows = s.local().syncs();
        gauge(b, "mmsync_backlog", "Changes queued on this node that the peer has not applied yet.");
        rows.forEach(r -> series(b, "mmsync_backlog", r, r.backlog()));
        gauge(b, "mmsync_lag_seconds", "Age of the oldest change queued on this node for the peer (0 when none).");
        rows.forEach(r -> series(b, "mmsync_lag_seconds", r, r.lagSeconds()));
        counter(b, "mmsync_rows_sent_total", "Changes made here and applied at the peer.");
        rows.forEach(r -> series(b, "mmsync_rows_sent_total", r, r.rowsSent()));
        counter(b, "mmsync_rows_applied_total", "Changes made at the peer and applied here.");
        rows.forEach(r -> series(b, "mmsync_rows_applied_total", r, r.rowsApplied()));
        gauge(b, "mmsync_link_error", "1 if the link to the peer reports an error now.");
        rows.forEach(r -> series(b, "mmsync_link_error", r, r.lastError() == null ? 0 : 1));
        gauge(b, "mmsync_link_in_sync", "1 if mmsync.status() says \"in sync\" for the sync and peer.");
        rows.forEach(r -> series(b, "mmsync_link_in_sync", r, "in sync".equals(r.state()) ? 1 : 0));
        // gauges, not counters: the DBA deletes old conflicts, and set-aside changes leave once applied
        gauge(b, "mmsync_conflicts", "Conflicts between changes from the peer and rows here, kept in mmsync.conflicts.");
        rows.forEach(r -> series(b, "mmsync_conflicts", r, r.conflicts()));
        counter(b, "mmsync_merged_deltas_total", "Conflicts of changes from the peer that lost nothing: the versions "
                + "differed only in delta columns, added up (counted in mmsync.conflict_counts, not logged).");
        rows.forEach(r -> series(b, "mmsync_merged_deltas_total", r, r.mergedDeltas()));
        gauge(b, "mmsync_set_aside", "Changes from the peer that could not be applied here yet (mmsync.set_aside).");
        rows.forEach(r -> series(b, "mmsync_set_aside", r, r.setAside()));
        FileMetrics.append(b, s.local().files());
        gauge(b, "mmsync_peer_reachable", "1 if the health watcher's last question to the peer was answered in time.");
        s.peers().forEach((name, h) -> {
            PeerSample p = h.latest();
            boolean fresh = p != null && p.reachable() && Duration.between(p.at(), s.now()).compareTo(s.peerStale()) <= 0;
            b.append("mmsync_peer_reachable{peer=\"").append(esc(name)).append("\"} ").append(fresh ? 1 : 0).append('\n');
        });
        gauge(b, "mmsync_peer_backlog", "Changes the peer still has to send to this node (as the peer last said).");
        s.peers().forEach((name, h) -> {
            PeerSample p = h.latest();
            if (p != null && p.reachable()) {
                b.append("mmsync_peer_backlog{peer=\"").append(esc(name)).append("\"} ").append(p.backlogToMe()).append('\n');
            }
        });
        return b.toString();
    }

    static void gauge(StringBuilder b, String name, String help) {
        b.append("# HELP ").append(name).append(' ').append(help).append('\n');
        b.append("# TYPE ").append(name).append(" gauge\n");
    }

    static void counter(StringBuilder b, String name, String help) {
        b.append("# HELP ").append(name).append(' ').append(help).append('\n');
        b.append("# TYPE ").append(name).append(" counter\n");
    }

    private static void series(StringBuilder b, String name, LocalState.SyncRow r, double value) {
        b.append(name).append("{sync=\"").append(esc(r.sync())).append("\",peer=\"").append(esc(r.peer())).append("\"} ")
                .append(num(value)).append('\n');
    }

    static String num(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : String.format(Locale.ROOT, "%.3f", v);
    }

    /** Label value escaping of the text format: backslash, double quote, line feed. */
    static String esc(String v) {
        return v == null ? "" : v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    private static double age(Instant then, Instant now) {
        return Verdicts.seconds(Duration.between(then, now));
    }
}
