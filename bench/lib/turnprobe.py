"""Issue 15: what a small page's turn sends, and what pgbench -N costs with the sync running, for
several agent jars side by side (rounds interleaved), on two throw-away clusters as bench/run's.

  python3 bench/lib/turnprobe.py --jars before=/tmp/old.jar,after=pljava-module/target/mmsync.jar \
      [--rounds 2] [--seconds 10] [--trace] [--out DIR]

--trace: in the first round, log_statement = all on both nodes while three rows are inserted on
blue 400 ms apart; the servers' logs go to DIR/log-<jar>-<node> (read the statements between two
inserts). Each round: -N on the none database, then -N on the mmsync one, and the CPU seconds of
blue's agent and of the link's backends (until green has everything) per 100,000 changes sent
(mmsync.links.sent). PROBE_JFR=/path/prefix records blue's agent with Java Flight Recorder.
"""
import argparse, json, os, re, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench, measure, pg, tools

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jars", required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--trace", action="store_true")
    ap.add_argument("--out", default=f"/tmp/mmturnprobe-{int(time.time())}")
    a = ap.parse_args()
    jars = dict(j.split("=", 1) for j in a.jars.split(","))
    cfg = dict(scale=1, fsync="off", drain_timeout=600, small_tx_rows=10, tool_budget=0, lag_seconds=8,
               twoway_seconds=0, twoway_drain_timeout=120)
    os.makedirs(a.out, exist_ok=True)
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
        for rnd in range(a.rounds):
            for name, jar in jars.items():
                for n in (ctx.blue, ctx.green):
                    mm.stop_agent(n.name)
                ctx.jar = os.path.abspath(jar)
                for n in (ctx.blue, ctx.green):
                    jfr = os.environ.get("PROBE_JFR")
                    if jfr and n is ctx.blue:
                        os.environ["MMSYNC_BENCH_JAVA_OPTS"] = f"-XX:+UseSerialGC -Xmx256m -XX:StartFlightRecording=filename={jfr}-{name}-{rnd}.jfr,settings=profile,dumponexit=true"
                    else:
                        os.environ.pop("MMSYNC_BENCH_JAVA_OPTS", None)
                    mm.start_agent(n)
                time.sleep(3)
                measure.catchup(ctx, mm, 5000, 10)  # warm up
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
                r0 = measure.pgbench(ctx.blue, none.db, a.seconds, ["-N"])
                pids = dict(mm.agent_pids(), **mm.backend_pids())
                before = {k: measure.cpu_seconds(p) for k, p in pids.items()}
                q0 = int(ctx.blue.value(mm.db, "SELECT sent FROM mmsync.links WHERE peer = 'green'"))
                r1 = measure.pgbench(ctx.blue, mm.db, a.seconds, ["-N"])
                measure.barrier(ctx, mm, ctx.blue, ctx.green, 300)
                cpu = measure.cpu_used(pids, before)
                q1 = int(ctx.blue.value(mm.db, "SELECT sent FROM mmsync.links WHERE peer = 'green'"))
                ch = q1 - q0
                r = dict(jar=name, round=rnd + 1, none_tps=r0["tps"], mm_tps=r1["tps"], ratio=round(r1["tps"] / r0["tps"], 3),
                         changes=ch, cpu_per_100k={k: round(v * 100000 / ch, 3) for k, v in cpu.items()})
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
