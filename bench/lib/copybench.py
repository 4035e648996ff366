"""Initial copy (add_sync(..., initial => 'copy')) against `pg_dump -t big --data-only | psql`,
side by side in one run on the same two throw-away clusters (issue 12). See bench/README.md.

  MMSYNC_PG_BIN=... python3 bench/lib/copybench.py [--rows 1000000] [--rounds 3] [--fsync off]
                                                   [--agent-opts "-Dmmsync.copy.workers=4"]

Each round gets fresh databases from templates (blue: the table filled; green: the table empty),
times pg_dump | psql into green's empty table, then empties it, adds the sync with initial =>
'copy', starts both agents and times the copy (the agent's own `done:` figure, and the wall time
from the agents' start until green's mmsync.copies says finished). The order of the two
alternates between rounds (cache warmth). Prints one line per round and the ratios; asserts
nothing about speed.
"""
import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pg  # noqa: E402

TABLE = ("CREATE TABLE big (id bigint PRIMARY KEY, a text, n int, at timestamptz, doc jsonb);")
FILL = ("INSERT INTO big SELECT g, md5(g::text), g % 1000, '2026-01-01'::timestamptz + g * interval '1 s', "
        "jsonb_build_object('k', g, 'tag', 'row ' || g, 'list', jsonb_build_array(g, g + 1, g + 2)) "
        "FROM generate_series(1, {rows}) g; ANALYZE big;")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fsync", choices=["on", "off"], default="off")
    ap.add_argument("--agent-opts", default="")
    ap.add_argument("--only", choices=["both", "mmsync", "dump"], default="both")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    jar = os.path.join(root, "pljava-module", "target", "mmsync.jar")
    base = pg.make_base_dir("mmcopy-")
    settings = {"fsync": args.fsync, "shared_buffers": "256MB", "max_wal_size": "8GB", "checkpoint_timeout": "30min",
                "max_connections": "100"}
    ports = []
    clusters = []
    try:
        for name in ("blue", "green"):
            port = pg.pick_port(25432 + 10 * len(ports) + os.getpid() % 500, ports)
            ports.append(port)
            c = pg.Cluster(name, base, port, settings)
            c.init()
            c.start()
            clusters.append(c)
        blue, green = clusters
        for c in clusters:
            c.psql("postgres", "CREATE DATABASE tpl")
            c.psql("tpl", "CREATE EXTENSION mmsync; " + TABLE)
        t0 = time.time()
        blue.psql("tpl", FILL.format(rows=args.rows), timeout=1800)
        size = blue.value("tpl", "SELECT pg_size_pretty(pg_total_relation_size('big'))")
        print(f"blue: {args.rows:,} rows, {size} (filled in {time.time() - t0:.1f} s); fsync={args.fsync}; "
              f"agent options: {args.agent_opts or '(defaults)'}", flush=True)
        results = []
        for r in range(1, args.rounds + 1):
            order = ["dump", "mmsync"] if r % 2 == 1 else ["mmsync", "dump"]
            if args.only != "both":
                order = [args.only]
            row = {"round": r}
            for what in order:
                db = f"{what}{r}"  # each its own fresh pair of databases
                for c in clusters:
                    c.psql("postgres", f"CREATE DATABASE {db} TEMPLATE tpl")
                green.psql(db, "TRUNCATE big")
                for c in clusters:
                    c.psql(db, "CHECKPOINT")
                cpu0 = server_cpu(blue) + server_cpu(green)
                kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                if what == "dump":
                    row["dump"] = dump(blue, green, db)
                    client = 0.0
                else:
                    row["mmsync"], row["agent"], client = mmsync_copy(blue, green, db, jar, args.agent_opts, base, r)
                    row["mmsync jvm cpu"] = client
                kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                if what == "dump":  # pg_dump and psql (the agents' JVMs: read before they stopped)
                    client = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
                for c in clusters:
                    quiet(c, db)
                row[what + " cpu"] = server_cpu(blue) + server_cpu(green) - cpu0 + client
                fp_check(blue, green, db, "pg_dump | psql" if what == "dump" else "mmsync copy")
                for c in clusters:
                    c.psql("postgres", f"DROP DATABASE {db}")
            results.append(row)
            line = f"round {r}: " + ", ".join(
                f"{k} {v:.1f} s" for k, v in row.items() if k != "round" and v is not None)
            if "dump cpu" in row and "mmsync cpu" in row:
                line += f"; CPU pg_dump|psql / mmsync = {row['dump cpu'] / row['mmsync cpu']:.2f}"
            if "dump" in row and "mmsync" in row:
                line += f"; pg_dump|psql / mmsync = {row['dump'] / row['mmsync']:.2f}"
            print(line, flush=True)
        if args.only == "both":
            ratios = sorted(r["dump"] / r["mmsync"] for r in results)
            print(f"ratio pg_dump|psql time / mmsync wall time: median {ratios[len(ratios) // 2]:.2f}, "
                  f"min {ratios[0]:.2f}, max {ratios[-1]:.2f}")
            ratios = sorted(r["dump"] / r["agent"] for r in results)
            print(f"ratio pg_dump|psql time / mmsync copy time (agent's done:): median {ratios[len(ratios) // 2]:.2f}, "
                  f"min {ratios[0]:.2f}, max {ratios[-1]:.2f}")
            ratios = sorted(r["dump cpu"] / r["mmsync cpu"] for r in results)
            print(f"ratio CPU seconds pg_dump|psql / mmsync (both servers and the clients): median "
                  f"{ratios[len(ratios) // 2]:.2f}, min {ratios[0]:.2f}, max {ratios[-1]:.2f}")
    finally:
        for c in clusters:
            c.stop("immediate")
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


def server_cpu(c):
    """CPU seconds of the cluster's postmaster and its exited children (backends are reaped by it)."""
    pid = int(open(os.path.join(c.data, "postmaster.pid")).readline())
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def quiet(c, db):
    """Waits until no client backend of db is left (so that its CPU time is counted by the postmaster)."""
    for _ in range(300):
        if c.value("postgres", f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()") == "0":
            return
        time.sleep(0.1)


def dump(blue, green, db):
    t = time.time()
    cmd = (f"{pg.PGBIN}/pg_dump -h 127.0.0.1 -p {blue.port} -U postgres -t big --data-only {db} | "
           f"{pg.PGBIN}/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p {green.port} -U postgres {db}")
    pg.run(["bash", "-o", "pipefail", "-c", cmd], timeout=1800)
    return time.time() - t


def mmsync_copy(blue, green, db, jar, opts, base, r):
    blue.psql(db, f"SELECT mmsync.add_node('blue', '{blue.dsn(db)}', true); SELECT mmsync.add_node('green', '{green.dsn(db)}');"
                  "SELECT mmsync.add_sync('app', '{blue,green}', tables => 'big', initial => 'copy')")
    agents = []
    t = time.time()
    logs = []
    for c in (blue, green):
        log = os.path.join(base, f"agent-{c.name}-{r}.log")
        logs.append(log)
        f = open(log, "w")
        cmd = ["java", "-Xmx256m"] + opts.split() + ["-jar", jar, "agent", "--db", c.dsn(db), "--poll-ms", "200"]
        agents.append(subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT))
    poll = green.session(db)  # one connection for the polling (a psql per poll would cost CPU of its own)
    try:
        deadline = time.time() + 1800
        while time.time() < deadline:
            if poll.query("SELECT count(*) FROM mmsync.copies WHERE finished_at IS NOT NULL") == [["1"]]:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("copy did not finish; log " + logs[0])
        wall = time.time() - t
        jvm = sum(proc_cpu(a.pid) for a in agents)
    finally:
        poll.close()
        for a in agents:
            a.terminate()
            a.wait(timeout=30)
    agent = None
    with open(logs[0], errors="replace") as f:
        m = re.search(r"done: [\d,]+ rows, [\d.]+ MB in ([\d.]+) s", f.read())
        if m:
            agent = float(m.group(1))
    return wall, agent, jvm


def fp_check(blue, green, db, what):
    q = "SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY id)) FROM big t"
    b, g = blue.value(db, q), green.value(db, q)
    if b != g:
        raise RuntimeError(f"{what}: green differs from blue ({g} vs {b})")


if __name__ == "__main__":
    main()
