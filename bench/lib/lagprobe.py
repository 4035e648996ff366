"""Issue 15: where the lag of a small page goes. Runs measure.lag (as bench/run) for several agent
jars side by side (rounds interleaved) and splits each row's way from blue to green by the
servers' commit timestamps (track_commit_timestamp): written -> blue commit -> green commit ->
seen by the bench's poller; with an agent that prints TRACE lines (-Dmmsync.trace=true; the
engine has none as of issue 15's commits, the parser is kept for a build instrumented by hand)
also the agent's phases per page: its wake-up, the turn's requests on blue, the apply on green.

  python3 bench/lib/lagprobe.py --jars old=/tmp/old.jar,new=pljava-module/target/mmsync.jar \
      [--rates 200,1000] [--rounds 3] [--seconds 8] [--java-opts NAME=OPTS] [--poll-sleep-ms NAME=MS] [--out DIR]

--poll-sleep-ms NAME=MS: the bench poller's sleep between two polls for that jar name (bench/run:
2 ms); the same jar under two names shows what the poller's granularity adds to the figure.
"""
import argparse, json, os, re, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench, measure, pg, tools
from catchup import settle


def pct(v, p):
    v = sorted(x for x in v if x is not None)
    return round(measure.percentile(v, p), 2) if v else None


def rows(node, db, w0, w1):
    out = {}
    for line in node.psql(db, "SELECT id, extract(epoch FROM t_written), extract(epoch FROM pg_xact_commit_timestamp(xmin)) "
                              f"FROM bench_lag WHERE id > {w0} AND id <= {w1}").splitlines():
        if line.strip():
            i, tw, tc = line.split("|")
            out[int(i)] = (float(tw), float(tc) if tc else None)
    return out


def traces(log, since_line):
    out = []
    with open(log, errors="replace") as f:
        lines = f.readlines()
    for line in lines[since_line:]:
        m = re.search(r"TRACE (\S+) (\S+) (.*)", line)
        if m and m.group(1) == "bench_lag":
            kv = dict(x.split("=") for x in m.group(3).split())
            out.append(dict({k: int(v) for k, v in kv.items()}, key=int(m.group(2))))
    return out, len(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jars", required=True)
    ap.add_argument("--rates", default="200,1000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--java-opts", action="append", default=[])
    ap.add_argument("--poll-sleep-ms", action="append", default=[])
    ap.add_argument("--out", default=f"/tmp/mmlagprobe-{int(time.time())}")
    ap.add_argument("--pgss", action="store_true", help="pg_stat_statements on both nodes: each measure's statements "
                    "(calls, mean planning and execution ms) in DIR/pgss-<jar>-<round>-<rate>-<node>.txt")
    a = ap.parse_args()
    if a.pgss:
        plain = bench.cluster_settings
        def with_pgss(fsync):
            st = plain(fsync)
            libs = st.get("shared_preload_libraries", "''").strip("'")
            st["shared_preload_libraries"] = "'" + ", ".join(x for x in (libs, "pg_stat_statements") if x) + "'"
            st["pg_stat_statements.track_planning"] = "on"
            st["pg_stat_statements.track"] = "all"
            return st
        bench.cluster_settings = with_pgss
    jars = dict(j.split("=", 1) for j in a.jars.split(","))
    java_opts = dict(o.split("=", 1) for o in a.java_opts)
    poll_sleep = {k: float(v) / 1000 for k, v in (o.split("=", 1) for o in a.poll_sleep_ms)}
    cfg = dict(scale=1, fsync="off", drain_timeout=600, small_tx_rows=10, tool_budget=0, lag_seconds=a.seconds,
               twoway_seconds=0, twoway_drain_timeout=120)
    os.makedirs(a.out, exist_ok=True)
    ctx = bench.Ctx(cfg, a.out, pg.make_base_dir())
    ctx.results = {"tools": {"none": {}, "mmsync": {}}}
    res = []
    mm = None
    try:
        bench.start_clusters(ctx)
        mm = tools.Mmsync(ctx)
        ctx.jar = os.path.abspath(next(iter(jars.values())))
        mm.setup()
        if a.pgss:
            for c in (ctx.blue, ctx.green):
                c.psql(mm.db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        for rnd in range(a.rounds):
            for name, jar in jars.items():
                for n in (ctx.blue, ctx.green):
                    mm.stop_agent(n.name)
                ctx.jar = os.path.abspath(jar)
                base = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xmx256m -Dmmsync.trace=true"
                os.environ["MMSYNC_BENCH_JAVA_OPTS"] = java_opts.get(name, base)
                for n in (ctx.blue, ctx.green):
                    mm.start_agent(n)
                settle(ctx, mm)
                measure.catchup(ctx, mm, 5000, 10)  # warm up
                ctx.cfg["lag_poll_sleep_s"] = poll_sleep.get(name, 0.002)
                for rate in [int(r) for r in a.rates.split(",")]:
                    settle(ctx, mm)
                    log = mm.logs["blue"]
                    _, mark = traces(log, 0)
                    w0 = int(ctx.blue.value(mm.db, "SELECT coalesce(max(id), 0) FROM bench_lag"))
                    if a.pgss:
                        for c in (ctx.blue, ctx.green):
                            c.psql(mm.db, "SELECT pg_stat_statements_reset()")
                    pages0 = int(ctx.green.value(mm.db, "SELECT coalesce(sum(batches), 0) FROM mmsync.progress WHERE origin = 'blue'"))
                    r = measure.lag(ctx, mm, rate)
                    pages = int(ctx.green.value(mm.db, "SELECT coalesce(sum(batches), 0) FROM mmsync.progress WHERE origin = 'blue'")) - pages0
                    if a.pgss:
                        for c in (ctx.blue, ctx.green):
                            with open(os.path.join(a.out, f"pgss-{name}-{rnd + 1}-{rate}-{c.name}.txt"), "w") as f:
                                f.write(c.psql(mm.db, "SELECT calls, plans, round(mean_plan_time::numeric, 3) AS plan_ms, "
                                               "round(mean_exec_time::numeric, 3) AS exec_ms, round(total_exec_time::numeric, 1) AS total_ms, "
                                               "regexp_replace(left(query, 200), '\\s+', ' ', 'g') FROM pg_stat_statements "
                                               "ORDER BY total_exec_time DESC LIMIT 25"))
                    w1 = int(ctx.blue.value(mm.db, "SELECT coalesce(max(id), 0) FROM bench_lag"))
                    b, g = rows(ctx.blue, mm.db, w0, w1), rows(ctx.green, mm.db, w0, w1)
                    commit = [(b[i][1] - b[i][0]) * 1000 for i in b if b[i][1]]
                    repl = [(g[i][1] - b[i][1]) * 1000 for i in b if i in g and g[i][1] and b[i][1]]
                    d = dict(jar=name, round=rnd + 1, rate=rate, p50=r["p50_ms"], p99=r["p99_ms"],
                             p50_mid=r.get("p50_mid_ms"), p99_mid=r.get("p99_mid_ms"), poll_ms=r["poll_interval_ms"],
                             write_to_commit=[pct(commit, 50), pct(commit, 99)],
                             commit_to_commit=[pct(repl, 50), pct(repl, 99)])
                    # the peer's transactions (pages, with the warm-up's) and the CPU seconds of the agents and link backends
                    d["peer_pages"] = pages
                    d["cpu_s"] = r.get("cpu_s")
                    tr, _ = traces(log, mark)
                    if tr:
                        ph = {k: [] for k in ("wake", "begin", "read", "end", "apply", "resolve", "run", "commit", "confirm",
                                              "busy_at_commit", "n",
                                              "commit_to_turn", "turn_to_apply", "apply_to_green_commit", "green_commit_to_reply")}
                        for t in tr:
                            i = t["key"]
                            if i not in b or not b[i][1]:
                                continue
                            cb = b[i][1] * 1e6
                            waiting = t["ws"] < cb < t["wake"]
                            ph["busy_at_commit"].append(0 if waiting else 1)
                            ph["n"].append(t["n"])
                            if waiting:
                                ph["wake"].append((t["wake"] - cb) / 1000)
                            ph["commit_to_turn"].append((t["b0"] - cb) / 1000)
                            ph["turn_to_apply"].append((t["a0"] - t["b0"]) / 1000)
                            if i in g and g[i][1]:
                                gc = g[i][1] * 1e6
                                ph["apply_to_green_commit"].append((gc - t["a0"]) / 1000)
                                ph["green_commit_to_reply"].append((t["a1"] - gc) / 1000)
                            ph["begin"].append((t["b1"] - t["b0"]) / 1000)
                            ph["read"].append((t["r1"] - t["b1"]) / 1000)
                            ph["end"].append((t["e1"] - t["r1"]) / 1000)
                            ph["apply"].append((t["a1"] - t["a0"]) / 1000)
                            ph["resolve"].append(t["res"] / 1000)
                            ph["run"].append(t["run"] / 1000)
                            ph["commit"].append(t["com"] / 1000)
                            ph["confirm"].append((t["c1"] - t["a1"]) / 1000)
                        d["phases_p50_p99"] = {k: [pct(v, 50), pct(v, 99)] for k, v in ph.items() if k not in ("busy_at_commit", "n")}
                        d["pages"] = len(tr)
                        d["busy_at_commit"] = round(sum(ph["busy_at_commit"]) / max(1, len(ph["busy_at_commit"])), 2)
                        d["changes_per_page"] = round(sum(ph["n"]) / max(1, len(ph["n"])), 2)
                    print(json.dumps(d), flush=True)
                    res.append(d)
    finally:
        if mm is not None:
            mm.teardown()
        for c in (ctx.blue, ctx.green):
            if c is not None:
                c.stop()
        pg.remove_base_dir(ctx.work)
        json.dump(res, open(os.path.join(a.out, "lagprobe.json"), "w"), indent=1)


main()
