"""The measurements. Each takes the run's context and one tool, returns a plain dict for
results.json, and asserts nothing about speed. How each figure is taken is told in
bench/README.md; the comments here say why it is taken that way.
"""
import bisect
import itertools
import math
import os
import re
import subprocess
import threading
import time

import pg

CLIENTS, THREADS = 4, 2


# ---------------------------------------------------------------- helpers

def checkpoint(ctx):
    for node in (ctx.blue, ctx.green):
        node.psql("postgres", "CHECKPOINT", timeout=300)


def pgbench_cmd(node, db, seconds, args, clients=CLIENTS, threads=THREADS):
    return ([f"{pg.PGBIN}/pgbench", "-n", "-c", str(clients), "-j", str(threads), "-T", str(seconds)]
            + args + node.pgbench_args(db))


def parse_pgbench(out):
    def num(pattern):
        m = re.search(pattern, out)
        return float(m.group(1)) if m else None
    return {"tps": num(r"tps = ([\d.]+) \(without"),
            "transactions": num(r"actually processed: (\d+)"),
            "failed": num(r"failed transactions: (\d+)"),
            "latency_ms": num(r"latency average = ([\d.]+) ms")}


def children_cpu(node):
    """CPU seconds (user + system) of the node's exited backends so far (the postmaster's
    cutime + cstime), or None: pgbench's backends exit at the end of a run, so the difference over
    a run is what its transactions cost the server, a figure that, unlike TPS, barely moves with
    what else runs on this shared machine."""
    try:
        with open(os.path.join(node.data, "postmaster.pid")) as f:
            pm = int(f.readline())
        with open(f"/proc/{pm}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def child_pids(node):
    """The postmaster's child processes (pid -> command line; empty for an exited, unreaped one)."""
    try:
        with open(os.path.join(node.data, "postmaster.pid")) as f:
            pm = f.readline().strip()
    except OSError:
        return {}
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[1] != pm:
                    continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                out[d] = f.read().decode(errors="replace").replace("\0", " ")
        except (OSError, IndexError):
            continue
    return out


def pgbench(node, db, seconds, args, clients=CLIENTS, threads=THREADS):
    load = os.getloadavg()[0]
    before = set(child_pids(node))
    cpu0 = children_cpu(node)
    p = pg.run(pgbench_cmd(node, db, seconds, args, clients, threads), timeout=seconds + 120)
    out = dict(parse_pgbench(p.stdout + p.stderr), load1_before=round(load, 2))
    # A backend's CPU is added to the postmaster's children's once it has exited and been reaped,
    # which on a loaded machine can be well after pgbench returns: wait until the run's new
    # backends of this database (or exited, unreaped children) are gone. Polled through /proc, not
    # a query, whose own backend would count.
    def settled():
        return not any(pid not in before and (not cmd or f" {db} " in cmd) for pid, cmd in child_pids(node).items())
    gone = pg.wait_until(settled, 10)
    cpu1 = children_cpu(node)
    if gone and cpu0 is not None and cpu1 is not None and out.get("transactions"):
        out["server_cpu_us"] = round((cpu1 - cpu0) * 1e6 / out["transactions"], 1)
    return out


_marker = itertools.count(int(time.time() * 1000))  # next() is atomic: barrier_both uses two threads


def barrier(ctx, tool, src, dst, timeout):
    """Seconds until a marker committed on src after everything else is visible on dst, or
    None on timeout. All three tools apply a peer's changes in commit order (or, for mmsync,
    by snapshot range), so the marker arrives after every change committed before it."""
    mid = next(_marker)
    src.psql(tool.db, f"INSERT INTO bench_marker (id, node) VALUES ({mid}, '{src.name}')")
    s = dst.session(tool.db)
    try:
        t0 = time.monotonic()
        ok = pg.wait_until(lambda: s.query(f"SELECT count(*) FROM bench_marker WHERE id = {mid}")[0][0] == "1",
                           timeout, 0.05)
        return round(time.monotonic() - t0, 3) if ok else None
    finally:
        s.close()


def drain(ctx, tool, phase, result):
    """Waits until blue's changes are on green; records how long it took (or that it did not)."""
    timeout = ctx.cfg["drain_timeout"]
    d = barrier(ctx, tool, ctx.blue, ctx.green, timeout)
    result["drain_s"] = d
    if d is None:
        ctx.note(tool, f"{phase}: changes not on green within {timeout:.0f} s")
        dump_activity(ctx, tool, phase)
    return d


def dump_activity(ctx, tool, phase):
    """What both servers were doing when something did not arrive in time (into logs/)."""
    path = os.path.join(ctx.logs, f"stuck-{tool.name}.txt")
    with open(path, "a") as f:
        f.write(f"=== {phase} at {time.strftime('%H:%M:%S')}\n")
        for node in (ctx.blue, ctx.green):
            try:
                f.write(f"--- {node.name}\n" + node.psql("postgres", """
                    SELECT pid, datname, application_name, state, wait_event_type, wait_event,
                           now() - xact_start AS xact_age, left(query, 200)
                    FROM pg_stat_activity WHERE state <> 'idle' AND pid <> pg_backend_pid()""") + "\n")
            except pg.CommandError as e:
                f.write(f"--- {node.name}: {e}\n")


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    return sorted_values[max(1, math.ceil(p / 100.0 * len(sorted_values))) - 1]


def proc_status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid):
    """CPU seconds (user + system) a process has used so far; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def cpu_used(pids, before):
    """CPU seconds each of pids used since before (a process gone or replaced meanwhile: left out)."""
    out = {}
    for name, pid in pids.items():
        now = cpu_seconds(pid)
        if now is not None and before.get(name) is not None:
            out[name] = round(now - before[name], 3)
    return out


def reset_peak_rss(pid):
    """Resets VmHWM (peak RSS) of a process: writing 5 to clear_refs (Linux 4.0+)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class RssSampler(threading.Thread):
    """Samples the summed VmRSS of a tool's processes (re-listed each time: Bucardo forks new
    ones) every 100 ms; VmHWM alone would miss processes that come and go."""

    def __init__(self, tool):
        super().__init__(daemon=True)
        self.tool, self.peak_kb, self.stop_flag = tool, 0, threading.Event()

    def run(self):
        while not self.stop_flag.wait(0.1):
            total = sum(proc_status_kb(p, "VmRSS") or 0 for p in self.tool.agent_pids().values())
            self.peak_kb = max(self.peak_kb, total)

    def stop(self):
        self.stop_flag.set()
        self.join(2)


# ---------------------------------------------------------------- 1. capture overhead

SCRIPTS = (("simple_update", ["-N"]), ("tpcb", ["-b", "tpcb-like"]))


def tps(ctx, tool, out=None):
    """pgbench on blue, 4 clients. A replicating tool is measured twice per script: with its
    sync paused (capture only: what the triggers cost the writer) and running (capture plus
    shipping and applying, all on this one machine). This machine is shared and its speed
    drifts, so runs without replication (the none tool's database, same clusters) are
    interleaved: none, capture only, sync running, none [, capture only, sync running, none ...];
    each run's ratio is against the mean of the none runs just before and just after it, and the
    reported ratio is the median of those. Fills out (when given) as it goes, so that what was
    measured before a failure is kept."""
    out = {} if out is None else out
    seconds, rounds = ctx.cfg["tps_seconds"], ctx.cfg["tps_rounds"]
    for script, args in SCRIPTS:
        r = out[script] = {}
        if not tool.replicates:
            checkpoint(ctx)
            r["no_replication"] = pgbench(ctx.blue, tool.db, seconds, args)
            continue
        runs = r["runs"] = []

        def none_run():
            if ctx.none is not None:
                checkpoint(ctx)
                runs.append(dict(pgbench(ctx.blue, ctx.none.db, seconds, args), kind="none"))
        try:
            none_run()
            for _ in range(rounds):
                tool.pause()
                checkpoint(ctx)
                runs.append(dict(pgbench(ctx.blue, tool.db, seconds, args), kind="capture_only"))
                tool.resume()
                drain(ctx, tool, f"tps {script} capture only", runs[-1])
                checkpoint(ctx)
                runs.append(dict(pgbench(ctx.blue, tool.db, seconds, args), kind="sync_running"))
                drain(ctx, tool, f"tps {script} sync running", runs[-1])
                none_run()
        finally:
            for kind in ("capture_only", "sync_running"):
                r[kind] = summarize(runs, kind)
        ctx.say(f"  {tool.name} {script}: capture only {r['capture_only']['tps']} tps "
                f"({r['capture_only']['ratio']}x), sync running {r['sync_running']['tps']} tps "
                f"({r['sync_running']['ratio']}x); none {[round(x['tps']) for x in runs if x['kind'] == 'none']}")
    return out


def summarize(runs, kind):
    """Median TPS of one kind of run, and the median of its ratios to the bracketing none runs."""
    tps_values, ratios = [], []
    nones = [i for i, x in enumerate(runs) if x["kind"] == "none"]
    for i, x in enumerate(runs):
        if x["kind"] != kind or not x.get("tps"):
            continue
        tps_values.append(x["tps"])
        before = [runs[j]["tps"] for j in nones if j < i][-1:]
        after = [runs[j]["tps"] for j in nones if j > i][:1]
        base = [v for v in before + after if v]
        if base:
            ratios.append(x["tps"] / (sum(base) / len(base)))
    cpu_values, cpu_ratios = [], []
    for i, x in enumerate(runs):
        if x["kind"] != kind or not x.get("server_cpu_us"):
            continue
        cpu_values.append(x["server_cpu_us"])
        base = [runs[j].get("server_cpu_us") for j in nones if j < i][-1:] + \
            [runs[j].get("server_cpu_us") for j in nones if j > i][:1]
        base = [v for v in base if v]
        if base:
            cpu_ratios.append((sum(base) / len(base)) / x["server_cpu_us"])
    return {"tps": rnd(median(tps_values), 1), "ratio": rnd(median(ratios), 3), "ratios": [rnd(v, 3) for v in ratios],
            "server_cpu_us": rnd(median(cpu_values), 1), "cpu_ratio": rnd(median(cpu_ratios), 3)}


def median(values):
    v = sorted(values)
    if not v:
        return None
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


# ---------------------------------------------------------------- 2. lag

LAG_SQL = "INSERT INTO bench_lag (t_written) VALUES (clock_timestamp());\n"


def lag(ctx, tool, rate):
    """Rate-limited inserts on blue, each carrying clock_timestamp() at insert; a poller on
    green asks "which rows with id > W are visible now, and what is statement_timestamp()?"
    every ~2 ms. A row's lag is the first poll time that saw it minus its written time: an
    upper bound, tight to one poll interval (reported). Both clocks are the same host clock.
    Nothing is added to the tables under test (no trigger, no extra column). One second of the
    same load, drained before the measured run, warms the tool up (connections, caches, JIT):
    the figures are of the steady state."""
    seconds, db = ctx.cfg["lag_seconds"], tool.db
    script = os.path.join(ctx.work, "lag.sql")
    with open(script, "w") as f:
        f.write(LAG_SQL)
    pg.run(pgbench_cmd(ctx.blue, db, 1, ["-R", str(rate), "-f", script]), timeout=120)
    barrier(ctx, tool, ctx.blue, ctx.green, ctx.cfg["drain_timeout"])
    w = w0 = int(ctx.blue.value(db, "SELECT coalesce(max(id), 0) FROM bench_lag"))
    seen = {}
    polls = []
    green = ctx.green.session(db)
    blue = ctx.blue.session(db)
    cpu_pids = dict(tool.agent_pids(), **tool.backend_pids())
    cpu_before = {name: cpu_seconds(pid) for name, pid in cpu_pids.items()}
    proc = subprocess.Popen(pgbench_cmd(ctx.blue, db, seconds, ["-R", str(rate), "-f", script]),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out_lines = []
    reader = threading.Thread(target=lambda: out_lines.extend(proc.stdout), daemon=True)
    reader.start()
    expected_max, ended_at, w_moved_at = None, None, time.monotonic()
    try:
        while True:
            row = green.query(
                "SELECT extract(epoch FROM statement_timestamp())::text || ' ' || coalesce(string_agg("
                "id::text || ':' || extract(epoch FROM t_written)::text, ',' ORDER BY id), '') "
                f"FROM bench_lag WHERE id > {w}")[0][0]
            ts_text, _, ids = row.partition(" ")
            ts = float(ts_text)
            polls.append(ts)
            for item in filter(None, ids.split(",")):
                i, tw = item.split(":")
                seen.setdefault(int(i), (float(tw), ts))
            old_w = w
            while w + 1 in seen:
                w += 1
            now = time.monotonic()
            if w != old_w:
                w_moved_at = now
            elif now - w_moved_at > 2 and any(i > w for i in seen):
                # an id that blue never committed (a failed insert) would hold W back: skip it
                nxt = blue.query(f"SELECT coalesce(min(id), 0) FROM bench_lag WHERE id > {w}")[0][0]
                if int(nxt) > w + 1:
                    w = int(nxt) - 1
                w_moved_at = now
            if proc.poll() is not None:
                if expected_max is None:
                    expected_max = int(blue.query("SELECT coalesce(max(id), 0) FROM bench_lag")[0][0])
                    ended_at = now
                if w >= expected_max or now - ended_at > ctx.cfg["drain_timeout"]:
                    break
            time.sleep(ctx.cfg.get("lag_poll_sleep_s", 0.002))  # lagprobe.py --poll-sleep-ms; bench/run: 2 ms
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        reader.join(5)
        green.close()
        blue.close()
    cpu = cpu_used(cpu_pids, cpu_before)
    bench = parse_pgbench("".join(out_lines))
    rows = sorted((i, tw, ts) for i, (tw, ts) in seen.items() if i <= expected_max)
    lags = sorted((ts - tw) * 1000.0 for _, tw, ts in rows)
    mids = sorted(mid_lag(polls, tw, ts) for _, tw, ts in rows)
    gaps = sorted(b - a for a, b in zip(polls, polls[1:]))
    t_first = min((tw for _, tw, _ in rows), default=0.0)
    res = {
        "target_rate": rate, "achieved_rate": bench["tps"], "rows": expected_max - w0,
        "delivered": len(rows), "undelivered": expected_max - w0 - len(rows),
        "p50_ms": rnd(percentile(lags, 50)), "p99_ms": rnd(percentile(lags, 99)), "max_ms": rnd(lags[-1] if lags else None),
        # the same rows, each placed in the middle of the interval in which it became visible
        "p50_mid_ms": rnd(percentile(mids, 50)), "p99_mid_ms": rnd(percentile(mids, 99)),
        "poll_interval_ms": rnd(percentile(gaps, 50) * 1000 if gaps else None),
        "series": binned(((tw - t_first, (ts - tw) * 1000.0) for _, tw, ts in rows), 0.25),
        # CPU seconds of the agents and the link's backends during the run (and its drain)
        "cpu_s": cpu or None,
    }
    ctx.say(f"  {tool.name} lag @{rate}/s: p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms, max {res['max_ms']} ms"
            f" ({res['delivered']}/{res['rows']} rows, poll {res['poll_interval_ms']} ms)")
    return res


def mid_lag(polls, written, seen_at):
    """A row first seen by the poll at seen_at became visible after the poll before it (or after
    it was written, if later) and by seen_at: the middle of that interval, minus its written time,
    in ms. Unlike the upper bound (seen_at - written) it does not carry half a poll interval of
    the poller's own granularity; both are reported."""
    k = bisect.bisect_left(polls, seen_at)
    before = polls[k - 1] if k > 0 else written
    return ((max(before, written) + seen_at) / 2 - written) * 1000.0


def binned(points, width):
    """[[t, p50, max], ...] per time bin: keeps the plot's data small."""
    bins = {}
    for t, v in points:
        bins.setdefault(int(t / width), []).append(v)
    out = []
    for b in sorted(bins):
        vs = sorted(bins[b])
        out.append([round(b * width, 2), rnd(percentile(vs, 50)), rnd(vs[-1])])
    return out


def rnd(v, nd=2):
    return None if v is None else round(v, nd)


# ---------------------------------------------------------------- 3. catch-up and 5. memory

def catchup(ctx, tool, n, per_tx):
    """n rows queued on blue while the sync is paused (per_tx rows per transaction), then the
    time from resume until all n are visible on green. Green is polled every 20 ms with two
    index probes (any row of the batch yet? the last one?), then one count to confirm."""
    db = tool.db
    first = int(ctx.blue.value(db, "SELECT coalesce(max(id), 0) + 1 FROM bench_catchup"))
    last = first + n - 1
    t0 = time.monotonic()
    tool.pause()
    pause_s = round(time.monotonic() - t0, 3)  # mmsync: until the sender says it is paused
    t0 = time.monotonic()
    ctx.blue.psql(db, f"CALL benchlocal.fill({first}, {n}, {per_tx})", timeout=3600)
    res = {"rows": n, "rows_per_tx": per_tx, "pause_s": pause_s, "queue_s": round(time.monotonic() - t0, 3)}
    if pause_s > 5:
        ctx.note(tool, f"catch-up {n} rows x{per_tx}/tx: pausing took {pause_s} s")
    checkpoint(ctx)
    for pid in tool.agent_pids().values():
        reset_peak_rss(pid)
    cpu_pids = dict(tool.agent_pids(), **tool.backend_pids())
    cpu_before = {name: cpu_seconds(pid) for name, pid in cpu_pids.items()}
    sampler = RssSampler(tool)
    sampler.start()
    green = ctx.green.session(db)
    try:
        t0 = time.monotonic()
        tool.resume()
        first_at = done_at = None
        count = 0
        timeout = ctx.cfg["drain_timeout"]
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            any_row, last_row = green.query(
                f"SELECT EXISTS (SELECT 1 FROM bench_catchup WHERE id BETWEEN {first} AND {last}), "
                f"EXISTS (SELECT 1 FROM bench_catchup WHERE id = {last})")[0]
            now = time.monotonic()
            if any_row == "t" and first_at is None:
                first_at = now - t0
            if last_row == "t":
                count = int(green.query(f"SELECT count(*) FROM bench_catchup WHERE id BETWEEN {first} AND {last}")[0][0])
                if count == n:
                    done_at = time.monotonic() - t0
                    break
            time.sleep(0.02)
        if done_at is None:
            count = int(green.query(f"SELECT count(*) FROM bench_catchup WHERE id BETWEEN {first} AND {last}")[0][0])
    finally:
        green.close()
        sampler.stop()
    res.update({"first_row_s": rnd(first_at, 3), "drain_s": rnd(done_at, 3),
                "rows_per_s": round(n / done_at) if done_at else None,
                "delivered": count, "timed_out": done_at is None})
    if done_at is None:
        elapsed = time.monotonic() - t0
        res["partial_rows_per_s"] = round(count / elapsed)
        ctx.note(tool, f"catch-up {n} rows x{per_tx}/tx: only {count} on green after {timeout:.0f} s")
        res["timeout_s"] = round(timeout)
    res["cpu_s"] = cpu_used(cpu_pids, cpu_before) or None
    pids = tool.agent_pids()
    res["peak_rss_kb"] = {name: proc_status_kb(pid, "VmHWM") for name, pid in pids.items()} if tool.name == "mmsync" else None
    res["sampled_peak_rss_kb"] = sampler.peak_kb or None
    ctx.say(f"  {tool.name} catch-up {n} rows, {per_tx}/tx: queued in {res['queue_s']} s, drained in "
            f"{res['drain_s']} s = {res['rows_per_s']} rows/s (first row after {res['first_row_s']} s)")
    return res


# ---------------------------------------------------------------- 4. the COPY ceiling

def ceiling(ctx, tool, n):
    """The same kind of rows (same table definition, primary key included) COPYed from a file
    into green by psql's \\copy: how fast the peer can ingest them at best. Best of two runs."""
    db = tool.db
    first = int(ctx.blue.value(db, "SELECT coalesce(max(id), 0) + 1 FROM bench_catchup"))
    ctx.blue.psql(db, f"CALL benchlocal.fill({first}, {n}, {n})", timeout=3600)
    path = os.path.join(ctx.work, f"ceiling-{n}.copy")
    ctx.blue.psql(db, f"\\copy (SELECT * FROM bench_catchup WHERE id BETWEEN {first} AND {first + n - 1}"
                      f" ORDER BY id) TO '{path}'", timeout=3600)
    best = None
    try:
        for _ in range(2):
            ctx.green.psql(db, "TRUNCATE benchlocal.ceiling; CHECKPOINT")
            t0 = time.monotonic()
            ctx.green.psql(db, f"\\copy benchlocal.ceiling FROM '{path}'", timeout=3600)
            t = time.monotonic() - t0
            best = t if best is None else min(best, t)
    finally:
        os.unlink(path)
    res = {"rows": n, "seconds": round(best, 3), "rows_per_s": round(n / best)}
    ctx.say(f"  COPY ceiling {n} rows: {res['rows_per_s']} rows/s")
    return res
