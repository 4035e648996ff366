"""Catch-up only, for work on the apply path: the COPY ceiling and mmsync's catch-up (one big
transaction, many small ones) on two throw-away clusters, for one or more agent jars side by
side in one run (rounds interleaved, so that the machine's drift hits every jar alike).
With --lag RATES, each round also measures lag at those commit rates, with --twoway SECONDS
two-way TPC-B (both as bench/run does); --sizes 0 leaves the catch-up out.

  python3 bench/lib/catchup.py --jars before=/tmp/old.jar,after=pljava-module/target/mmsync.jar \
      [--sizes 100000] [--rounds 1] [--lag 200,1000] [--twoway 10] [--warmup 20000] [--out DIR] \
      [--java-opts after='-XX:+UseSerialGC -Xmx256m ...'] [--sql before=/tmp/old-triggers.sql]

Each agent start is followed by an unmeasured catch-up of --warmup rows (10-row transactions), so
that the first measured page does not pay for the JIT (bench/run's agents are warm by then).

Same clusters, schema and measurements as bench/run (measure.catchup, measure.ceiling); prints
one line per measurement and writes DIR/catchup.json. MMSYNC_LOG_LEVEL=FINE in the environment
makes the agents log their per-page phase timings (DIR/logs/mmsync-agent-*.log).
"""
import argparse
import json
import os
import sys
import time

import bench
import measure
import pg
import tools
import twoway


def settle(ctx, mm, timeout=90):
    """Waits until both queues are empty (purged behind the links): a new snapshot range's first
    read walks what is left of the queue, so a measurement right after a catch-up would pay for
    the one before it (lag p50 went from about 20 to 225 ms), and every later jar more."""
    t0 = time.monotonic()
    left = None
    while time.monotonic() - t0 < timeout:
        left = sum(int(n.value(mm.db, "SELECT count(*) FROM mmsync.change_queue")) for n in (ctx.blue, ctx.green))
        if left == 0:
            return round(time.monotonic() - t0, 1)
        time.sleep(0.5)
    ctx.say(f"  queues still hold {left} changes after {timeout} s; measuring anyway")
    return None


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--jars", required=True, help="name=path,name=path")
    ap.add_argument("--java-opts", action="append", default=[], metavar="NAME=OPTS",
                    help="JVM options of the agents of jar NAME (else MMSYNC_BENCH_JAVA_OPTS or the default); "
                         "the same jar under two names compares JVM options, e.g. --java-opts c1='-XX:TieredStopAtLevel=1'")
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--small-tx-rows", type=int, default=10)
    ap.add_argument("--only", choices=["one_tx", "small_tx"], help="only this kind of catch-up")
    ap.add_argument("--lag", default="", help="commit rates to measure lag at, e.g. 200,1000")
    ap.add_argument("--lag-seconds", type=int, default=8)
    ap.add_argument("--twoway", type=int, default=0, help="seconds of two-way TPC-B per round (0: none)")
    ap.add_argument("--scale", type=int, default=1, help="pgbench's scale (two-way TPC-B: 4 branches at 4, as bench/run --quick)")
    ap.add_argument("--twoway-none", action="store_true",
                    help="each round also runs the two-way TPC-B without replication (the none tool's database): the ceiling")
    ap.add_argument("--twoway-sample", action="store_true",
                    help="sample pg_stat_activity on both nodes during two-way TPC-B (wait events, who blocks whom)")
    ap.add_argument("--warmup", type=int, default=20000,
                    help="rows of an unmeasured catch-up after each agent start (the JIT warms up, as in bench/run; 0: none)")
    ap.add_argument("--sql", action="append", default=[], metavar="NAME=FILE",
                    help="SQL run on both nodes (the bench database) before each round of jar NAME, agents stopped: "
                         "compares extension states side by side, e.g. a trigger definition (the same jar under two names)")
    ap.add_argument("--out", default=f"/tmp/mmcatchup-{int(time.time())}")
    args = ap.parse_args(argv)
    jars = dict(j.split("=", 1) for j in args.jars.split(","))
    java_opts = dict(o.split("=", 1) for o in args.java_opts)
    sql = {k: open(v).read() for k, v in (o.split("=", 1) for o in args.sql)}
    default_opts = os.environ.get("MMSYNC_BENCH_JAVA_OPTS")
    sizes = [int(s) for s in args.sizes.split(",") if int(s) > 0]
    rates = [int(r) for r in args.lag.split(",") if r]
    cfg = dict(scale=args.scale, twoway_sample=args.twoway_sample, fsync="off", drain_timeout=600, small_tx_rows=args.small_tx_rows, tool_budget=0,
               lag_seconds=args.lag_seconds, twoway_seconds=args.twoway, twoway_drain_timeout=120)
    os.makedirs(args.out, exist_ok=True)
    ctx = bench.Ctx(cfg, args.out, pg.make_base_dir())
    ctx.results = {"tools": {"none": {}, "mmsync": {}}}
    out = {"jars": jars, "ceiling": [], "catchup": [], "lag": [], "twoway": []}
    none = mm = None
    try:
        bench.start_clusters(ctx)
        none = tools.Tool(ctx)
        none.setup()
        mm = tools.Mmsync(ctx)
        ctx.jar = os.path.abspath(next(iter(jars.values())))
        mm.setup()
        for n in sizes:
            out["ceiling"].append(measure.ceiling(ctx, none, n))
        kinds = [args.only] if args.only else ["one_tx", "small_tx"]
        for rnd in range(args.rounds):
            if args.twoway and args.twoway_none:
                r = twoway.plain(ctx, none)
                out["twoway"].append({"jar": "none", "round": rnd + 1, "transactions": r["transactions"],
                                      "exact": None, "drain_s": None, "load1": round(os.getloadavg()[0], 2),
                                      "cpu_s": r.get("cpu_s")})
            for name, jar in jars.items():
                for node in (ctx.blue, ctx.green):
                    mm.stop_agent(node.name)
                ctx.jar = os.path.abspath(jar)
                if name in sql:
                    for node in (ctx.blue, ctx.green):
                        node.psql(mm.db, sql[name])
                if name in java_opts:
                    os.environ["MMSYNC_BENCH_JAVA_OPTS"] = java_opts[name]
                elif default_opts is not None:
                    os.environ["MMSYNC_BENCH_JAVA_OPTS"] = default_opts
                else:
                    os.environ.pop("MMSYNC_BENCH_JAVA_OPTS", None)
                for node in (ctx.blue, ctx.green):
                    mm.start_agent(node)
                if args.warmup and sizes:
                    settle(ctx, mm)
                    measure.catchup(ctx, mm, args.warmup, args.small_tx_rows)
                for rate in rates:
                    settle(ctx, mm)
                    r = measure.lag(ctx, mm, rate)
                    r = {k: v for k, v in r.items() if k != "series"}
                    r.update(jar=name, round=rnd + 1)
                    ctx.say(f"round {rnd + 1} {name}: lag @{rate}/s p50/p99/max {r.get('p50_ms')}/{r.get('p99_ms')}/{r.get('max_ms')} ms")
                    out["lag"].append(r)
                if args.twoway:
                    settle(ctx, mm)
                    load1 = round(os.getloadavg()[0], 2)
                    r = twoway.twoway(ctx, mm)
                    out["twoway"].append({"jar": name, "round": rnd + 1, "transactions": r["transactions"],
                                          "exact": r["exact"], "drain_s": r["drain_s"], "load1": load1,
                                          "failed": r.get("failed"), "conflicts": r.get("conflicts"),
                                          "waits": r.get("waits"), "cpu_s": r.get("cpu_s"),
                                          "retries": r.get("retries")})
                for n in sizes:
                    for kind in kinds:
                        per_tx = n if kind == "one_tx" else args.small_tx_rows
                        settled = settle(ctx, mm)
                        ctx.say(f"round {rnd + 1} {name}: {n} rows, {kind} (queues empty after {settled} s)")
                        r = measure.catchup(ctx, mm, n, per_tx)
                        r.update(jar=name, round=rnd + 1, kind=kind)
                        out["catchup"].append(r)
        for n in sizes:
            out["ceiling"].append(measure.ceiling(ctx, none, n))
    finally:
        if mm is not None:
            mm.teardown()
        for c in (ctx.blue, ctx.green):
            if c is not None:
                c.stop()
        pg.remove_base_dir(ctx.work)
        with open(os.path.join(args.out, "catchup.json"), "w") as f:
            json.dump(out, f, indent=1)
    for r in out["lag"]:
        cpu = " ".join(f"{k} {v:.2f}" for k, v in sorted((r.get("cpu_s") or {}).items()))
        print(f"{r['jar']:8} round {r['round']} lag @{r['target_rate']}/s: p50 {r['p50_ms']} p99 {r['p99_ms']} max {r['max_ms']} ms"
              f"; CPU s: {cpu}")
    for r in out["twoway"]:
        total = sum(v or 0 for v in r["transactions"].values())
        print(f"{r['jar']:8} round {r['round']} two-way TPC-B: {total:.0f} tx {r['transactions']}, exact {r['exact']}, "
              f"drain {r['drain_s']}, load1 before {r.get('load1')}, pgbench retries {r.get('retries')}")
        if r.get("cpu_s"):
            c = r["cpu_s"]
            per = {k: f"{v / total * 1000:.2f}" for k, v in c.items() if k != "wall" and total}
            print(f"    CPU s: {c}; ms per transaction: {per}")
        for node, w in (r.get("waits") or {}).items():
            print(f"    {node}: {w['samples']} samples")
            for k, v in w["counts"].items():
                print(f"      {v:6} {k}")
    ceil = {c["rows"]: max(x["rows_per_s"] for x in out["ceiling"] if x["rows"] == c["rows"]) for c in out["ceiling"]}
    print("\njar      round rows     kind      rows/s   of COPY  peak RSS blue kB  CPU s/100k: agent peer origin")
    for r in out["catchup"]:
        rate = r.get("rows_per_s")
        frac = f"{rate / ceil[r['rows']]:.0%}" if rate else "-"
        cpu = {k: f"{v * 100000 / r['rows']:.2f}" for k, v in (r.get("cpu_s") or {}).items()}
        print(f"{r['jar']:8} {r['round']:5} {r['rows']:8} {r['kind']:9} {rate or '-':>7}  {frac:>7}  "
              f"{str((r.get('peak_rss_kb') or {}).get('agent_blue')):>16}  "
              f"{cpu.get('agent_blue', '-'):>5} {cpu.get('peer_backend', '-'):>5} {cpu.get('origin_backend', '-'):>5}")
    print("COPY ceiling (best):", ceil, " all:", [x["rows_per_s"] for x in out["ceiling"]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
