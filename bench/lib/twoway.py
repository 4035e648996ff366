"""Two-way TPC-B: both nodes write at once, then every balance is checked against the history.
mmsync declares the balances additive (delta columns, issue 3, see tools.Mmsync) and the history
insert-only; Bucardo and pglogical have no such notion and resolve each concurrent update of a
row by keeping one version. The check is the same for every tool."""
import subprocess
import threading

import measure

BALANCE_SQL = """
WITH h AS (SELECT aid, bid, tid, delta FROM pgbench_history)
SELECT (SELECT count(*) FROM h),
  (SELECT count(*) FROM pgbench_branches b LEFT JOIN (SELECT bid, sum(delta) s FROM h GROUP BY bid) x USING (bid)
    WHERE b.bbalance <> coalesce(x.s, 0)),
  (SELECT count(*) FROM pgbench_branches),
  (SELECT count(*) FROM pgbench_tellers t LEFT JOIN (SELECT tid, sum(delta) s FROM h GROUP BY tid) x USING (tid)
    WHERE t.tbalance <> coalesce(x.s, 0)),
  (SELECT count(*) FROM pgbench_tellers),
  (SELECT count(*) FROM pgbench_accounts a LEFT JOIN (SELECT aid, sum(delta) s FROM h GROUP BY aid) x USING (aid)
    WHERE a.abalance <> coalesce(x.s, 0)),
  (SELECT count(DISTINCT aid) FROM h),
  (SELECT coalesce(sum(abs(b.bbalance - coalesce(x.s, 0))), 0) FROM pgbench_branches b
    LEFT JOIN (SELECT bid, sum(delta) s FROM h GROUP BY bid) x USING (bid))
"""

TABLES = ("pgbench_accounts", "pgbench_tellers", "pgbench_branches", "pgbench_history")
DIGEST_SQL = " UNION ALL ".join(
    f"SELECT '{t}', sum(hashtext(t::text)::bigint) FROM {t} t" for t in TABLES)


def digests(node, db):
    """An order-independent digest of each pgbench table."""
    return dict(line.split("|") for line in node.psql(db, DIGEST_SQL).splitlines())


def balances(node, db):
    """Every balance must equal the sum of the history deltas for its account, teller, branch:
    pgbench writes both in one transaction, so any difference is an update lost or doubled."""
    v = [int(x) for x in node.value(db, BALANCE_SQL).split("|")]
    return {"history_rows": v[0], "branches_wrong": v[1], "branches": v[2], "tellers_wrong": v[3],
            "tellers": v[4], "accounts_wrong": v[5], "accounts_touched": v[6], "branch_abs_error": v[7]}


def twoway(ctx, tool):
    """TPC-B on blue and green at once (2 clients each; deadlocks with the applier are retried
    by pgbench), then both directions drained and every balance checked against the history
    on each node; the nodes are compared by digest."""
    seconds, db = ctx.cfg["twoway_seconds"], tool.db
    res = {"before": {n.name: balances(n, db) for n in (ctx.blue, ctx.green)}}
    args = ["-b", "tpcb-like", "--max-tries=1000"]
    procs = {n.name: subprocess.Popen(measure.pgbench_cmd(n, db, seconds, args, clients=2, threads=1),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for n in (ctx.blue, ctx.green)}
    res["transactions"], res["pgbench_problems"] = {}, []
    for name, p in procs.items():
        out, _ = p.communicate(timeout=seconds + 120)
        res["transactions"][name] = measure.parse_pgbench(out)["transactions"]
        res["pgbench_problems"] += [f"{name}: {line}" for line in out.splitlines() if "aborted" in line][:3]
    res["drain_s"] = barrier_both(ctx, tool, ctx.cfg["twoway_drain_timeout"])
    if None in res["drain_s"].values():
        measure.dump_activity(ctx, tool, "two-way TPC-B drain")
    res["after"] = {n.name: balances(n, db) for n in (ctx.blue, ctx.green)}
    blue, green = digests(ctx.blue, db), digests(ctx.green, db)
    res["tables_differing"] = [t for t in TABLES if blue.get(t) != green.get(t)]
    res["nodes_identical"] = not res["tables_differing"]
    expected = res["before"]["blue"]["history_rows"] + sum(v or 0 for v in res["transactions"].values())
    res["history_expected"] = expected
    a = res["after"]
    res["conflicts"] = {n.name: tool.conflicts(n) for n in (ctx.blue, ctx.green)}
    res["exact"] = (res["nodes_identical"] and all(
        x["history_rows"] == expected and x["branches_wrong"] == 0 and x["tellers_wrong"] == 0
        and x["accounts_wrong"] == 0 for x in a.values()))
    ctx.say(f"  {tool.name} two-way TPC-B: {res['transactions']} tx; blue wrong b/t/a "
            f"{a['blue']['branches_wrong']}/{a['blue']['tellers_wrong']}/{a['blue']['accounts_wrong']}, green "
            f"{a['green']['branches_wrong']}/{a['green']['tellers_wrong']}/{a['green']['accounts_wrong']}, "
            f"identical {res['nodes_identical']}, drained {res['drain_s']}")
    return res


def barrier_both(ctx, tool, timeout):
    """Markers on both nodes at once; seconds until each is on the other node (None: not in time)."""
    out = {}

    def one(src, dst):
        out[f"{src.name}_to_{dst.name}"] = measure.barrier(ctx, tool, src, dst, timeout)
    threads = [threading.Thread(target=one, args=pair) for pair in ((ctx.blue, ctx.green), (ctx.green, ctx.blue))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out
