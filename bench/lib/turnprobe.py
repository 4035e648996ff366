"""Issue 15: what a small page's turn sends, and what pgbench -N costs with the sync running, for
several agent jars side by side (rounds interleaved), on two throw-away clusters as bench/run's.

  python3 bench/lib/turnprobe.py --jars before=/tmp/old.jar,after=pljava-module/target/mmsync.jar \
      [--rounds 2] [--seconds 10] [--warm S] [--rate TPS] [--pgss] [--capture-only] [--trace] [--out DIR]

--trace: in the first round, log_statement = all on both nodes while three rows are inserted on
blue 400 ms apart; the servers' logs go to DIR/log-<jar>-<node> (read the statements between two
inserts). Each round: -N on the none database, then -N on the mmsync one, and the CPU seconds of
blue's agent and of the link's backends (until green has everything) per 100,000 changes sent
(mmsync.links.sent), and the queue rows blue read per change sent (pg_stat_user_tables). PROBE_JFR=/path/prefix records blue's agent with Java Flight Recorder in the -N
phase (PROBE_JFC=settings file, default profile): PREFIX-<jar>-<round>.jfr. PROBE_PERF=/path/prefix
records blue's agent and the link's backends with perf in that phase (PREFIX-<jar>-<round>-<process>.data;
with MMSYNC_BENCH_JAVA_OPTS="... -XX:+PreserveFramePointer" for the agent's Java frames).
"""
import argparse, json, os, re, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench, measure, pg, tools

def thread_cpu(pid):
    """CPU seconds (user, system) per thread name of a process, from /proc (threads of one name summed)."""
    out = {}
    tck = os.sysconf("SC_CLK_TCK")
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            name = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            f = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = re.sub(r"\d+$", "", name)
        u, s_ = out.get(name, (0.0, 0.0))
        out[name] = (u + int(f[11]) / tck, s_ + int(f[12]) / tck)
    return out


def queue_rows_read(node, db):
    """Rows of the queue tables (changes_0..2) read on node so far, by index or scan (pg_stat_user_tables)."""
    return int(node.value(db, "SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0) "
                          "FROM pg_catalog.pg_stat_user_tables WHERE schemaname = 'mmsync' AND relname ~ '^changes_[0-2]$'"))


def main():
    ap = argparse.ArgumentParser()
    bench.jar_args(ap, rounds=2, seconds=10)
    ap.add_argument("--trace", action="store_true")
    ap.add_argument("--warm", type=int, default=0, help="seconds of -N with the sync running before each "
                    "measurement (a warm agent: its per-turn methods compiled)")
    ap.add_argument("--pgss", action="store_true", help="pg_stat_statements on both nodes: each round's statements "
                    "of the -N phase (calls, plans, time) in DIR/pgss-<jar>-<round>-<node>.txt")
    ap.add_argument("--rate", type=int, default=0, help="pgbench -R: -N at this many transactions/s (the same stream "
                    "for every jar, whatever the machine's load gives; the TPS ratio then says nothing)")
    ap.add_argument("--capture-only", action="store_true", help="after each round's -N with the sync running, "
                    "the same with both agents stopped (capture's cost alone)")
    ap.add_argument("--scale", type=int, default=1, help="pgbench -i scale of both nodes' databases")
    ap.add_argument("--out", default=f"/tmp/mmturnprobe-{int(time.time())}")
    a = ap.parse_args()
    nargs = ["-N"] + (["-R", str(a.rate)] if a.rate else [])
    jars = dict(j.split("=", 1) for j in a.jars.split(","))
    java_opts = dict(o.split("=", 1) for o in a.java_opts)
    default_opts = os.environ.get("MMSYNC_BENCH_JAVA_OPTS")
    cfg = dict(scale=a.scale, fsync="off", drain_timeout=600, small_tx_rows=10, tool_budget=0, lag_seconds=8,
               twoway_seconds=0, twoway_drain_timeout=120)
    os.makedirs(a.out, exist_ok=True)
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
    ctx = bench.Ctx(cfg, a.out, pg.make_base_dir())
    ctx.results = {"tools": {"none": {}, "mmsync": {}}}
    res = []
    mm = None
    try:
        bench.start_clusters(ctx)
        none = tools.Tool(ctx); none.setup()
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
                if name in java_opts:
                    os.environ["MMSYNC_BENCH_JAVA_OPTS"] = java_opts[name]
                elif default_opts is None:
                    os.environ.pop("MMSYNC_BENCH_JAVA_OPTS", None)
                else:
                    os.environ["MMSYNC_BENCH_JAVA_OPTS"] = default_opts
                for n in (ctx.blue, ctx.green):
                    mm.start_agent(n)
                time.sleep(3)
                measure.catchup(ctx, mm, 5000, 10)  # warm up
                if a.warm:
                    measure.pgbench(ctx.blue, mm.db, a.warm, nargs)
                    measure.barrier(ctx, mm, ctx.blue, ctx.green, 300)
                if a.trace and rnd == 0:
                    for c in (ctx.blue, ctx.green):
                        c.psql(mm.db, "ALTER SYSTEM SET log_statement = 'all'; ALTER SYSTEM SET log_line_prefix = '%m [%p] %a: '; SELECT pg_reload_conf()")
                    time.sleep(1)
                    for i in range(3):
                        ctx.blue.psql(mm.db, "INSERT INTO bench_lag (t_written) VALUES (clock_timestamp())")
                        time.sleep(0.4)
                    time.sleep(0.5)
                    for c in (ctx.blue, ctx.green):
                        c.psql(mm.db, "ALTER SYSTEM RESET log_statement; SELECT pg_reload_conf()")
                    for c in (ctx.blue, ctx.green):
                        subprocess.run(f"cp {c.log} {a.out}/log-{name}-{c.name}", shell=True)
                # -N: none, then mmsync running
                measure.checkpoint(ctx)
                r0 = measure.pgbench(ctx.blue, none.db, a.seconds, nargs)
                pids = dict(mm.agent_pids(), **mm.backend_pids())
                for i, pid in enumerate(ctx.blue.value(mm.db, "SELECT string_agg(pid::text, ',') FROM pg_catalog.pg_stat_activity "
                                                       "WHERE datname = current_database() AND application_name LIKE 'mmsync sender % to green'"
                                                       ).split(",")):
                    if int(pid) != pids.get("origin_backend"):
                        pids[f"origin_backend{i + 2}"] = int(pid)
                before = {k: measure.cpu_seconds(p) for k, p in pids.items()}
                th0 = thread_cpu(pids["agent_blue"])
                q0 = int(ctx.blue.value(mm.db, "SELECT sent FROM mmsync.links WHERE peer = 'green'"))
                qr0 = queue_rows_read(ctx.blue, mm.db)
                b0 = int(ctx.green.value(mm.db, "SELECT coalesce(sum(batches), 0) FROM mmsync.progress WHERE origin = 'blue'"))
                if a.pgss:
                    for c in (ctx.blue, ctx.green):
                        c.psql(mm.db, "SELECT pg_stat_statements_reset()")
                jfr = os.environ.get("PROBE_JFR")
                if jfr:  # blue's agent, the -N phase only
                    subprocess.run(["jcmd", str(pids["agent_blue"]), "JFR.start", "name=probe",
                                    "settings=" + os.environ.get("PROBE_JFC", "profile")], check=True, stdout=subprocess.DEVNULL)
                perf = os.environ.get("PROBE_PERF")
                perfs = []
                if perf:  # blue's agent and the link's two backends, the -N phase only
                    for k in ("agent_blue", "origin_backend", "peer_backend"):
                        perfs.append(subprocess.Popen(["perf", "record", "-q", "-F", "997", "-g", "-p", str(pids[k]),
                                                       "-o", f"{perf}-{name}-{rnd + 1}-{k}.data"],
                                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                r1 = measure.pgbench(ctx.blue, mm.db, a.seconds, nargs)
                measure.barrier(ctx, mm, ctx.blue, ctx.green, 300)
                for pp in perfs:
                    pp.send_signal(2)
                    pp.wait()
                if perf:
                    subprocess.run(["jcmd", str(pids["agent_blue"]), "Compiler.perfmap"], stdout=subprocess.DEVNULL)
                if jfr:
                    subprocess.run(["jcmd", str(pids["agent_blue"]), "JFR.stop", "name=probe",
                                    f"filename={jfr}-{name}-{rnd + 1}.jfr"], check=True, stdout=subprocess.DEVNULL)
                cpu = measure.cpu_used(pids, before)
                th1 = thread_cpu(pids["agent_blue"])
                q1 = int(ctx.blue.value(mm.db, "SELECT sent FROM mmsync.links WHERE peer = 'green'"))
                ch = q1 - q0
                time.sleep(1.2)  # the sender's backend reports its table reads at most once a second
                qr1 = queue_rows_read(ctx.blue, mm.db)
                b1 = int(ctx.green.value(mm.db, "SELECT coalesce(sum(batches), 0) FROM mmsync.progress WHERE origin = 'blue'"))
                if a.pgss:
                    for c in (ctx.blue, ctx.green):
                        out = c.psql(mm.db, "SELECT calls, plans, round(total_exec_time::numeric, 1) AS exec_ms, "
                                     "round(total_plan_time::numeric, 1) AS plan_ms, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) "
                                     "FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
                                     "ORDER BY total_exec_time + total_plan_time DESC LIMIT 40")
                        open(os.path.join(a.out, f"pgss-{name}-{rnd + 1}-{c.name}.txt"), "w").write(str(out))
                r = dict(jar=name, round=rnd + 1, none_tps=r0["tps"], mm_tps=r1["tps"], ratio=round(r1["tps"] / r0["tps"], 3),
                         latency_ms=[r0["latency_ms"], r1["latency_ms"]],
                         changes=ch, pages=b1 - b0, pgbench_backends_per_100k=round(r1["server_cpu_us"] * r1["transactions"] / 1e6 * 100000 / ch, 3) if r1.get("server_cpu_us") else None,
                         none_pgbench_us_per_tx=r0.get("server_cpu_us"), mm_pgbench_us_per_tx=r1.get("server_cpu_us"), queue_rows_read_per_change=round((qr1 - qr0) / max(1, ch), 2), per_page=round(ch / max(1, b1 - b0), 1), cpu_per_100k={k: round(v * 100000 / ch, 3) for k, v in cpu.items()})
                r["agent_threads_per_100k"] = {k: [round((u - th0.get(k, (0, 0))[0]) * 100000 / ch, 2),
                                                   round((s_ - th0.get(k, (0, 0))[1]) * 100000 / ch, 2)]
                                               for k, (u, s_) in th1.items() if (u + s_) - sum(th0.get(k, (0, 0))) >= 0.01}
                if a.capture_only:
                    # the same -N with both agents stopped: what capture alone costs the writers (the
                    # next round's agents send this backlog before their warm-up's rows)
                    for n in (ctx.blue, ctx.green):
                        mm.stop_agent(n.name)
                    r2 = measure.pgbench(ctx.blue, mm.db, a.seconds, nargs)
                    r["capture_only_tps"] = r2["tps"]
                    r["capture_only_ratio"] = round(r2["tps"] / r0["tps"], 3)
                    r["capture_only_pgbench_us_per_tx"] = r2.get("server_cpu_us")
                print(json.dumps(r), flush=True)
                res.append(r)
    finally:
        if mm is not None:
            mm.teardown()
        for c in (ctx.blue, ctx.green):
            if c is not None:
                c.stop()
        pg.remove_base_dir(ctx.work)
        json.dump(res, open(os.path.join(a.out, "probe.json"), "w"), indent=1)

main()
