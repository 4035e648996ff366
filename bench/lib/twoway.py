"""Two-way TPC-B: both nodes write at once, then every balance is checked against the history.
mmsync declares the balances additive (delta columns, issue 3, see tools.Mmsync) and the history
insert-only; Bucardo and pglogical have no such notion and resolve each concurrent update of a
row by keeping one version. The check is the same for every tool."""
import collections
import re
import os
import resource
import subprocess
import threading
import time

import measure
import pg

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
    sampler = Sampler(ctx, db, seconds) if ctx.cfg.get("twoway_sample") else None
    cpu0 = cpu_split(ctx, tool)
    res.update(both(ctx, db, seconds))
    res["cpu_s"] = {k: round(v - cpu0.get(k, 0), 2) for k, v in cpu_split(ctx, tool, cpu0["_mmsync_pids"]).items()
                    if not k.startswith("_")}
    if sampler is not None:
        res["waits"] = sampler.result()
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


def both(ctx, db, seconds):
    """pgbench's TPC-B on blue and green at once; transactions per node and aborted-run lines."""
    args = ["-b", "tpcb-like", "--max-tries=1000"]
    procs = {n.name: subprocess.Popen(measure.pgbench_cmd(n, db, seconds, args, clients=2, threads=1),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for n in (ctx.blue, ctx.green)}
    res = {"transactions": {}, "pgbench_problems": [], "failed": {}}
    for name, p in procs.items():
        out, _ = p.communicate(timeout=seconds + 120)
        parsed = measure.parse_pgbench(out)
        res["transactions"][name] = parsed["transactions"]
        res["failed"][name] = parsed["failed"]
        m = re.search(r"total number of retries: (\d+)", out)
        res.setdefault("retries", {})[name] = int(m.group(1)) if m else None
        res["pgbench_problems"] += [f"{name}: {line}" for line in out.splitlines() if "aborted" in line][:3]
    return res


def _ticks(pid, children=False):
    """CPU seconds of a process (with its reaped children's: a postmaster's exited backends)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    n = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return n / os.sysconf("SC_CLK_TCK")


def cpu_split(ctx, tool, mmsync_pids=None):
    """Cumulative CPU seconds during two-way TPC-B, by who: the agents (JVMs), the tool's server
    sessions on both nodes (its appliers and queue readers: application_name mmsync...), every
    other server process of the two clusters (pgbench's backends, whose exited ones a postmaster
    holds as its children's time; autovacuum, WAL), and pgbench's client processes (this
    process's reaped children). The caller takes differences; mmsync's sessions are those alive
    at the start (the same pids are read at the end)."""
    out = {"agents": sum(_ticks(p) or 0 for p in getattr(tool, "agent_pids", lambda: {})().values())}
    pids = mmsync_pids
    if pids is None:
        pids = []
        for n in (ctx.blue, ctx.green):
            got = n.psql(tool.db, "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'mmsync%'")
            pids += [int(x) for x in got.split()]
    out["_mmsync_pids"] = pids
    out["mmsync_backends"] = sum(_ticks(p) or 0 for p in pids)
    servers = 0.0
    for n in (ctx.blue, ctx.green):
        with open(os.path.join(n.data, "postmaster.pid")) as f:
            pm = int(f.readline())
        servers += _ticks(pm, children=True) or 0
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid == pm:
                    servers += _ticks(int(d)) or 0
    out["other_server"] = servers - out["mmsync_backends"]
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["pgbench_clients"] = ru.ru_utime + ru.ru_stime
    out["wall"] = time.monotonic()
    return out


def plain(ctx, tool):
    """The ceiling: the same TPC-B on both nodes in a database without replication (the none tool)."""
    cpu0 = cpu_split(ctx, tool)
    r = both(ctx, tool.db, ctx.cfg["twoway_seconds"])
    r["cpu_s"] = {k: round(v - cpu0.get(k, 0), 2) for k, v in cpu_split(ctx, tool, cpu0["_mmsync_pids"]).items() if not k.startswith("_")}
    ctx.say(f"  {tool.name} two-way TPC-B (no replication): {r['transactions']} tx")
    return r


# one sample: every non-idle backend of the database but the sampler's, as who (pgbench or mmsync,
# with the first words of mmsync's statement), state, wait event and who blocks it
SAMPLE_SQL = """SELECT CASE WHEN a.application_name = 'pgbench' THEN 'pgbench' ELSE 'mmsync:'
  || left(regexp_replace(a.query, '\\s+', ' ', 'g'), 40) END, a.state, coalesce(a.wait_event_type, 'cpu'),
  coalesce(a.wait_event, '-'), coalesce((SELECT string_agg(DISTINCT CASE WHEN b.application_name = 'pgbench'
  THEN 'pgbench' ELSE 'mmsync' END, '+') FROM pg_stat_activity b WHERE b.pid = ANY (pg_blocking_pids(a.pid))), '')
  FROM pg_stat_activity a WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.state NOT IN ('idle') AND a.backend_type = 'client backend';
SELECT pg_sleep(0.02);
"""


class Sampler:
    """Samples pg_stat_activity on both nodes every 20 ms during the run (one psql each, a
    statement per sample, so each sees a fresh view): how often pgbench's backends wait on a lock
    that the applier holds, and what the applier's backend is doing."""

    def __init__(self, ctx, db, seconds):
        n = int(seconds / 0.025)
        self.procs = {node.name: subprocess.Popen(
            [f"{pg.PGBIN}/psql", "-X", "-q", "-A", "-t", "-F", "|"] + node.conn_args(db),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for node in (ctx.blue, ctx.green)}
        self.threads = []
        self.out = {}
        for name, p in self.procs.items():
            t = threading.Thread(target=self._feed, args=(name, p, n))
            t.start()
            self.threads.append(t)

    def _feed(self, name, p, n):
        out, _ = p.communicate(SAMPLE_SQL * n + "SELECT 'end';\n", timeout=n * 0.2 + 60)
        self.out[name] = out

    def result(self):
        for t in self.threads:
            t.join()
        res = {}
        for name, out in self.out.items():
            c = collections.Counter()
            samples = 0
            for line in out.splitlines():
                parts = line.split("|")
                if len(parts) == 1 and not parts[0]:
                    samples += 1  # pg_sleep's empty row
                elif len(parts) == 5:
                    who, state, wtype, wevent, blocker = parts
                    c[f"{who} | {state} | {wtype}:{wevent}" + (f" <- {blocker}" if blocker else "")] += 1
            res[name] = {"samples": samples, "counts": dict(c.most_common(25))}
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
