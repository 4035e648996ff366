"""mmsync benchmark driver: mmsync, Bucardo, pglogical and no replication, side by side on the
same two throw-away clusters in one run. Started by bench/run (which checks the machine and
builds the agent); see bench/README.md.

  python3 bench/lib/bench.py --mode quick --out DIR [--tools none,mmsync] [--fsync on] [--keep]
  python3 bench/lib/bench.py --cleanup DIR/.state.json     (what bench/run's trap calls)
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback

import measure
import pg
import report
import tools
import twoway

MODES = {
    # one to two minutes; what CI may run
    "smoke": dict(tools=["none", "mmsync"], scale=1, tps_seconds=3, tps_rounds=1, lag_rates=[100],
                  lag_seconds=5, catchup_sizes=[5000], small_tx_rows=10, twoway_seconds=3,
                  drain_timeout=60, twoway_drain_timeout=30, tool_budget=90, run_budget=120),
    # a few minutes (5-6 on an idle 2-core machine; about 10 when other jobs load it)
    "quick": dict(tools=list(tools.ALL), scale=4, tps_seconds=5, tps_rounds=1, lag_rates=[200, 1000],
                  lag_seconds=8, catchup_sizes=[100_000], small_tx_rows=10, twoway_seconds=6,
                  drain_timeout=120, twoway_drain_timeout=60, tool_budget=180, run_budget=480),
    # under 30 minutes
    "full": dict(tools=list(tools.ALL), scale=10, tps_seconds=10, tps_rounds=2, lag_rates=[200, 1000],
                 lag_seconds=15, catchup_sizes=[100_000, 1_000_000], small_tx_rows=10, twoway_seconds=15,
                 drain_timeout=180, twoway_drain_timeout=90, tool_budget=480, run_budget=1440),
}
# tool_budget: seconds of measuring per tool at most; run_budget: seconds of measuring in all,
# shared out among the tools still to run (each gets the smaller of tool_budget and an equal share
# of what is left). A phase starts only while its tool's share lasts; the rest are skipped and
# reported as such, so that a slow tool cannot stretch the run without bound. A phase that has
# started runs to its own timeouts, so that what is measured is measured fairly: a run overshoots
# by at most one phase per tool, plus set-up and teardown.


class Ctx:
    """What every measurement needs: the clusters, the settings, where to write."""

    def __init__(self, cfg, out, work):
        self.cfg, self.out, self.work = cfg, out, work
        self.lib = os.path.dirname(os.path.abspath(__file__))
        self.root = os.path.dirname(os.path.dirname(self.lib))
        self.jar = os.path.join(self.root, "pljava-module", "target", "mmsync.jar")
        self.logs = os.path.join(out, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.blue = self.green = None
        self.none = None  # the none tool, once set up: its database gives the TPS baselines
        self.tool_deadline = float("inf")
        self.tool_budget = None
        self.run_deadline = float("inf")
        self.results = None
        self.state = {"work": work, "clusters": [], "pids": [], "piddirs": []}
        self.state_path = os.path.join(out, ".state.json")
        self.t0 = time.monotonic()

    def say(self, msg):
        print(f"[{time.monotonic() - self.t0:6.0f}s] {msg}", flush=True)

    def note(self, tool, msg):
        self.say(f"  NOTE {tool.name}: {msg}")
        self.results["tools"][tool.name].setdefault("notes", []).append(msg)

    def save_state(self):
        with open(self.state_path, "w") as f:
            json.dump(self.state, f)

    def remember_pid(self, pid):
        self.state["pids"].append(pid)
        self.save_state()

    def remember_piddir(self, d):
        self.state["piddirs"].append(d)
        self.save_state()


def cluster_settings(fsync):
    s = {"fsync": fsync, "shared_buffers": "256MB", "max_connections": "200", "wal_level": "logical",
         "max_wal_senders": "10", "max_replication_slots": "10", "max_worker_processes": "16",
         "track_commit_timestamp": "on", "max_wal_size": "8GB", "checkpoint_timeout": "30min",
         "log_lock_waits": "on"}
    if not tools.Pglogical.missing():
        s["shared_preload_libraries"] = "'pglogical'"
        s["pglogical.conflict_resolution"] = "'last_update_wins'"
        # this build only lets a logical decoding plugin run when listed here
        if pg.has_guc("output_plugin_libraries"):
            s["output_plugin_libraries"] = "'pgoutput, test_decoding, pglogical_output'"
    return s


def jar_args(ap, rounds, seconds):
    """The probes' common options: --jars NAME=PATH,..., --rounds, --seconds, --java-opts NAME=OPTS."""
    ap.add_argument("--jars", required=True)
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--seconds", type=int, default=seconds)
    ap.add_argument("--java-opts", action="append", default=[], metavar="NAME=OPTS",
                    help="JVM options of the agents of jar NAME (else MMSYNC_BENCH_JAVA_OPTS or the default); "
                         "the same jar under two names compares options")


def preload(library, settings):
    """Makes cluster_settings also preload {library} and set {settings} (the probes' instruments)."""
    global cluster_settings
    plain = cluster_settings

    def wrapped(fsync):
        st = plain(fsync)
        libs = st.get("shared_preload_libraries", "''").strip("'")
        st["shared_preload_libraries"] = "'" + ", ".join(x for x in (libs, library) if x) + "'"
        st.update(settings)
        return st
    cluster_settings = wrapped


def start_clusters(ctx):
    settings = cluster_settings(ctx.cfg["fsync"])
    taken = []
    nodes = []
    for name in ("blue", "green"):
        port = pg.pick_port(56432, taken)
        taken.append(port)
        c = pg.Cluster(name, ctx.work, port, settings)
        ctx.state["clusters"].append(c.data)
        ctx.save_state()
        c.init()
        c.start()
        nodes.append(c)
    ctx.blue, ctx.green = nodes
    ctx.results["clusters"] = {"settings": settings, "ports": taken}
    ctx.say(f"clusters up: blue 127.0.0.1:{taken[0]}, green 127.0.0.1:{taken[1]} (fsync={ctx.cfg['fsync']})")


def phase(ctx, tool, r, name, fn, budgeted=True):
    """Runs one measurement; a failure is recorded and the run goes on. Past the tool's time
    budget a budgeted phase is skipped, and that is recorded too."""
    if budgeted and time.monotonic() > ctx.tool_deadline:
        r.setdefault("skipped", []).append(name)
        ctx.say(f"  SKIP {tool.name} {name}: its time budget of {ctx.tool_budget} s is used up")
        return None
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - any failure of one tool's phase must not stop the run
        ctx.say(f"  ERROR {tool.name} {name}: {e}")
        r.setdefault("errors", []).append(f"{name}: {e}")
        with open(os.path.join(ctx.logs, "bench-errors.log"), "a") as f:
            f.write(f"--- {tool.name} {name}\n{traceback.format_exc()}\n")
        return None


def run_tool(ctx, cls):
    r = ctx.results["tools"][cls.name] = {"status": "running"}
    missing = cls.missing()
    if missing:
        r["status"] = "skipped: missing " + "; ".join(missing)
        ctx.say(f"{cls.name}: {r['status']}")
        return None
    tool = cls(ctx)
    ctx.say(f"{cls.name}: setting up")
    t0 = time.monotonic()
    try:
        tool.setup()
        if tool.replicates:
            d = measure.barrier(ctx, tool, ctx.blue, ctx.green, 120)
            d2 = measure.barrier(ctx, tool, ctx.green, ctx.blue, 120)
            if d is None or d2 is None:
                raise tools.SetupError("a marker row did not reach the other node within 120 s")
    except Exception as e:  # noqa: BLE001 - a tool that fails to set up is recorded, the others still run
        r["status"] = f"setup failed: {e}"
        ctx.say(f"{cls.name}: {r['status']}")
        r["findings"] = tool.findings()
        phase(ctx, tool, r, "teardown", tool.teardown, budgeted=False)
        return None
    r["status"] = "ok"
    r["setup_s"] = round(time.monotonic() - t0, 1)
    return tool


def measure_tool(ctx, tool, tools_left):
    r = ctx.results["tools"][tool.name]
    cfg = ctx.cfg
    share = (ctx.run_deadline - time.monotonic()) / tools_left
    ctx.tool_budget = r["budget_s"] = round(max(30, min(cfg["tool_budget"], share)))
    ctx.tool_deadline = time.monotonic() + ctx.tool_budget
    try:
        if not tool.replicates:
            r["tps"] = phase(ctx, tool, r, "tps", lambda: measure.tps(ctx, tool))
            ceilings(ctx, tool, r)
            return
        if not ctx.results["ceiling"]:
            ceilings(ctx, tool, r)  # the none tool is not in this run: the first tool's database serves
        # lag first, on a fresh sync: no other phase's backlog is carried into it
        r["lag"] = {}
        for rate in cfg["lag_rates"]:
            r["lag"][str(rate)] = phase(ctx, tool, r, f"lag {rate}", lambda: measure.lag(ctx, tool, rate))
        # then the short phases, the TPS runs (whose drains take Bucardo minutes), the big catch-ups
        r["twoway"] = phase(ctx, tool, r, "two-way TPC-B", lambda: twoway.twoway(ctx, tool))
        r["catchup"] = {}
        sizes = cfg["catchup_sizes"]
        catchup_phases(ctx, tool, r, sizes[:1])
        r["tps"] = {}
        phase(ctx, tool, r, "tps", lambda: measure.tps(ctx, tool, r["tps"]))
        catchup_phases(ctx, tool, r, sizes[1:])
    finally:
        r["findings"] = tool.findings()
        r["measure_s"] = round(time.monotonic() - ctx.tool_deadline + ctx.tool_budget)
        ctx.tool_deadline = float("inf")


def ceilings(ctx, tool, r):
    """The COPY ceiling for each catch-up size, once per run (benchlocal.ceiling is replicated by no
    tool). Not budgeted: every catch-up figure is reported as a share of it."""
    for n in ctx.cfg["catchup_sizes"]:
        ctx.results["ceiling"][str(n)] = phase(ctx, tool, r, f"ceiling {n}", lambda: measure.ceiling(ctx, tool, n),
                                               budgeted=False)


def catchup_phases(ctx, tool, r, sizes):
    for n in sizes:
        r["catchup"][str(n)] = {
            "one_tx": phase(ctx, tool, r, f"catch-up {n} one tx", lambda: measure.catchup(ctx, tool, n, n)),
            "small_tx": phase(ctx, tool, r, f"catch-up {n} small tx",
                              lambda: measure.catchup(ctx, tool, n, ctx.cfg["small_tx_rows"])),
        }


def host_info():
    def out(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = f.readline().split()[1] + " kB"
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "memory": mem, "kernel": platform.release(),
            "postgres": out([f"{pg.PGBIN}/postgres", "--version"]), "java": out(["java", "-version"]),
            "bucardo": out(["bucardo", "--version"]) if shutil.which("bucardo") else None,
            "pglogical": out(["sh", "-c", f"grep default_version {pg.sharedir()}/extension/pglogical.control"]),
            "load_average_at_start": os.getloadavg()}


def on_term(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=list(MODES), default="quick")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tools", help="comma-separated subset of " + ",".join(tools.ALL))
    ap.add_argument("--fsync", choices=["on", "off"], default="off")
    ap.add_argument("--keep", action="store_true", help="leave the clusters' directory behind (stopped)")
    args = ap.parse_args(argv)

    cfg = dict(MODES[args.mode], mode=args.mode, fsync=args.fsync)
    if args.tools:
        unknown = [t for t in args.tools.split(",") if t not in tools.ALL]
        if unknown:
            ap.error(f"unknown tool(s) {unknown}; known: {list(tools.ALL)}")
        cfg["tools"] = [t for t in tools.ALL if t in args.tools.split(",")]
    os.makedirs(args.out, exist_ok=True)
    ctx = Ctx(cfg, args.out, pg.make_base_dir())
    ctx.results = {"mode": args.mode, "config": cfg,
                   "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   "host": host_info(), "ceiling": {}, "tools": {}}
    ctx.save_state()
    signal.signal(signal.SIGTERM, on_term)
    none_tool = None
    current = None
    try:
        start_clusters(ctx)
        ctx.run_deadline = time.monotonic() + cfg["run_budget"]
        for k, name in enumerate(cfg["tools"]):
            current = run_tool(ctx, tools.ALL[name])
            if current is None:
                continue
            measure_tool(ctx, current, len(cfg["tools"]) - k)
            if name == "none":
                none_tool = ctx.none = current  # kept to the end: the other tools' TPS baselines
            else:
                phase(ctx, current, ctx.results["tools"][name], "teardown", current.teardown, budgeted=False)
            current = None
        if none_tool is not None:
            ctx.say("none: TPS again, to see how much the machine drifted during the run")
            r = ctx.results["tools"]["none"]
            r["tps_end"] = phase(ctx, none_tool, r, "tps again", lambda: measure.tps(ctx, none_tool), budgeted=False)
    except KeyboardInterrupt:
        ctx.results["interrupted"] = True
        ctx.say("interrupted: cleaning up")
    finally:
        for t in (current, none_tool):
            if t is not None:
                try:
                    t.teardown()
                except Exception as e:  # noqa: BLE001 - cleanup goes on whatever failed
                    ctx.say(f"teardown of {t.name} failed: {e}")
        for c in (ctx.blue, ctx.green):
            if c is not None:
                shutil.copy(c.log, os.path.join(ctx.logs, f"postgres-{c.name}.log"))
                c.stop()
        ctx.results["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        ctx.results["duration_s"] = round(time.monotonic() - ctx.t0)
        report.write(ctx.results, args.out)
        if not args.keep:
            pg.remove_base_dir(ctx.work)
        os.unlink(ctx.state_path)
    ctx.say(f"results: {args.out}/results.md, results.json, lag.svg, lag-<tool>.svg")
    return 0


def cleanup(state_path):
    """Backstop for bench/run's trap: stops what a killed driver left behind, by recorded id."""
    try:
        with open(state_path) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return 0
    pids = list(state.get("pids", []))
    for d in state.get("piddirs", []):
        pids += tools.bucardo_pids(d)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    for data in state.get("clusters", []):
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            pg.run([f"{pg.PGBIN}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], check=False,
                   as_postgres=True, cwd="/tmp", timeout=60)
    if state.get("work", "").startswith("/tmp/mmbench-"):
        pg.remove_base_dir(state["work"])
    os.unlink(state_path)
    print(f"bench: cleaned up after an interrupted run ({len(pids)} processes, {state.get('work')})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--cleanup":
        sys.exit(cleanup(sys.argv[2]))
    sys.exit(main(sys.argv[1:]))
