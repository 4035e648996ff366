"""Issue 15: two-way TPC-B (bench/run's phase, twoway.py) for several agent jars and pglogical side
by side, rounds interleaved, on two throw-away clusters as bench/run's (scale 4, 2 clients per node).

  python3 bench/lib/twowayprobe.py --jars before=/tmp/old.jar,after=pljava-module/target/mmsync.jar \
      [--rounds 3] [--seconds 6] [--no-pglogical] [--sample] [--slow-ms MS] [--java-opts NAME=OPTS] [--out DIR]

Each round: for each jar, both agents restarted with it (and a warm-up marker both ways), then
two-way TPC-B; then pglogical's. One JSON line per run: transactions per node, exact, conflicts
logged in the run, and with MMSYNC_LOG_LEVEL=FINE the per-page timings of both agents (pages,
changes and statements per page, mean ms of the page, resolve, run, commit). --sample: where the
backends wait (twoway.Sampler: pg_stat_activity every 20 ms), into the JSON line.
"""
import argparse, json, os, re, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench, measure, pg, tools, twoway

PAGE = re.compile(r"page of (\d+) changes \((\d+) statements\) in ([\d.]+) ms: read ([\d.]+), resolve ([\d.]+), "
                  r"run ([\d.]+), commit ([\d.]+)")


def log_offsets(mm):
    return {n: os.path.getsize(p) if os.path.exists(p) else 0 for n, p in mm.logs.items()}


def page_stats(mm, offsets):
    """The PageTimings lines each agent wrote since offsets, summed up (None without FINE)."""
    out = {}
    for n, p in mm.logs.items():
        rows = []
        with open(p, errors="replace") as f:
            f.seek(offsets.get(n, 0))
            for line in f:
                m = PAGE.search(line)
                if m:
                    rows.append([float(x) for x in m.groups()])
        if rows:
            k = len(rows)
            col = lambda i: sum(r[i] for r in rows)
            tot = sorted(r[2] for r in rows)
            out[n] = dict(pages=k, changes_per_page=round(col(0) / k, 1), statements_per_page=round(col(1) / k, 1),
                          page_ms=round(col(2) / k, 2), page_ms_p90=tot[int(0.9 * (k - 1))],
                          read_ms=round(col(3) / k, 2), resolve_ms=round(col(4) / k, 2), run_ms=round(col(5) / k, 2),
                          commit_ms=round(col(6) / k, 2), max_changes=max(r[0] for r in rows))
    return out or None


def one(ctx, tool, name, rnd, extra=None):
    c0 = {n.name: tool.conflicts(n) for n in (ctx.blue, ctx.green)}
    r = twoway.twoway(ctx, tool)
    tx = r.get("transactions", {})
    c1 = {n.name: tool.conflicts(n) for n in (ctx.blue, ctx.green)}
    conflicts = None
    if c1["blue"] is not None:
        conflicts = {n: {k: v - (c0[n] or {}).get(k, 0) for k, v in c1[n].items() if v - (c0[n] or {}).get(k, 0)}
                     for n in c1}
    out = dict(tool=name, round=rnd, tx=sum(v or 0 for v in tx.values()), per_node=tx, exact=r["exact"],
               retries=r.get("retries"), drain_s=r["drain_s"], conflicts=conflicts, cpu_s=r.get("cpu_s"))
    if extra:
        out.update(extra)
    if "waits" in r:
        out["waits"] = r["waits"]
    print(json.dumps(out), flush=True)
    return out


# --sample: twoway's sample, where a blocked backend's blocker is named with its state and statement, and
# the tables of the row locks (tuple locks) the waiter holds while it waits
DETAIL_SAMPLE_SQL = """SELECT CASE WHEN a.application_name = 'pgbench' THEN 'pgbench' ELSE 'mmsync:'
  || left(regexp_replace(a.query, '\\s+', ' ', 'g'), 40) END, a.state, coalesce(a.wait_event_type, 'cpu'),
  coalesce(a.wait_event, '-'), coalesce((SELECT string_agg(DISTINCT CASE WHEN b.application_name = 'pgbench'
  THEN 'pgbench' ELSE 'mmsync[' || b.state || ': ' || left(regexp_replace(b.query, '\\s+', ' ', 'g'), 30) || ']' END, '+')
  FROM pg_stat_activity b WHERE b.pid = ANY (pg_blocking_pids(a.pid))), '') || coalesce((SELECT ' on '
  || string_agg(DISTINCT l.relation::regclass::text, ',') FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'tuple'), '')
  FROM pg_stat_activity a WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.state NOT IN ('idle') AND a.backend_type = 'client backend';
SELECT pg_sleep(0.02);
"""


def main():
    ap = argparse.ArgumentParser()
    bench.jar_args(ap, rounds=3, seconds=6)
    ap.add_argument("--no-pglogical", action="store_true")
    ap.add_argument("--sample", action="store_true")
    ap.add_argument("--slow-ms", type=int, default=0, help="log_min_duration_statement and auto_explain's plans "
                    "(no ANALYZE) of statements from this many ms on, in DIR/postgres-<node>.log")
    ap.add_argument("--analyze", action="store_true", help="with --slow-ms: the plans with EXPLAIN ANALYZE's "
                    "figures (auto_explain.log_analyze: every statement of the clusters pays for the timing)")
    ap.add_argument("--out", default=f"/tmp/mmtwowayprobe-{int(time.time())}")
    a = ap.parse_args()
    twoway.SAMPLE_SQL = DETAIL_SAMPLE_SQL
    if a.slow_ms:
        bench.preload("auto_explain", {"log_min_duration_statement": str(a.slow_ms),
                                       "auto_explain.log_min_duration": str(a.slow_ms),
                                       "auto_explain.log_analyze": "on" if a.analyze else "off"})
    jars = dict(j.split("=", 1) for j in a.jars.split(","))
    java_opts = dict(o.split("=", 1) for o in a.java_opts)
    cfg = dict(scale=4, fsync="off", drain_timeout=120, twoway_seconds=a.seconds, twoway_drain_timeout=60,
               twoway_sample=a.sample, small_tx_rows=10, tool_budget=0)
    os.makedirs(a.out, exist_ok=True)
    ctx = bench.Ctx(cfg, a.out, pg.make_base_dir())
    ctx.results = {"tools": {"none": {}, "mmsync": {}, "pglogical": {}}}
    res, mm, pgl = [], None, None
    try:
        bench.start_clusters(ctx)
        mm = tools.Mmsync(ctx)
        ctx.jar = os.path.abspath(next(iter(jars.values())))
        mm.setup()
        if not a.no_pglogical and not tools.Pglogical.missing():
            pgl = tools.Pglogical(ctx)
            pgl.setup()
        for rnd in range(1, a.rounds + 1):
            for name, jar in jars.items():
                mm.use_jar(jar, java_opts.get(name))
                twoway.barrier_both(ctx, mm, 120)  # both links running again
                measure.checkpoint(ctx)
                off = log_offsets(mm)
                r = one(ctx, mm, name, rnd)
                r["pages"] = page_stats(mm, off)
                if r["pages"]:
                    print(json.dumps({"tool": name, "round": rnd, "pages": r["pages"]}), flush=True)
                res.append(r)
            if pgl is not None:
                measure.checkpoint(ctx)
                res.append(one(ctx, pgl, "pglogical", rnd))
    finally:
        for t in (mm, pgl):
            if t is not None:
                try:
                    t.teardown()
                except Exception as e:  # noqa: BLE001 - cleanup goes on
                    print(f"teardown of {t.name}: {e}")
        for c in (ctx.blue, ctx.green):
            if c is not None:
                os.system(f"cp {c.log} {a.out}/postgres-{c.name}.log")
                c.stop()
        pg.remove_base_dir(ctx.work)
        json.dump(res, open(os.path.join(a.out, "probe.json"), "w"), indent=1)
    print("tx per run (sum of both nodes):")
    for name in list(jars) + (["pglogical"] if pgl is not None else []):
        runs = [r for r in res if r["tool"] == name]
        print(f"  {name}: {[r['tx'] for r in runs]} exact {[r['exact'] for r in runs]}")


main()
