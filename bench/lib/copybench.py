"""Initial copy (add_sync(..., initial => 'copy')) against `pg_dump -t big --data-only | psql`,
side by side in one run on the same two throw-away clusters (issue 12). See bench/README.md.

  MMSYNC_PG_BIN=... python3 bench/lib/copybench.py [--rows 1000000] [--rounds 3] [--fsync off]
      [--agent-opts "-Dmmsync.copy.workers=4"] [--variant 'LABEL[@JAR]:OPTS' ...] [--dump data,full]
      [--index] [--key bigint|text] [--compare] [--merge ROWS]

Each round gets fresh databases from templates (blue: the table filled; green: the table empty)
for each tool, in an order that rotates between rounds (cache warmth):
  dump      `pg_dump -t big --data-only | psql` into green's empty table, which keeps its indexes
            (what the copy meets: the sync's tables exist on the peer, indexes and all)
  dumpfull  `pg_dump -t big | psql` into green without the table: psql creates it, loads the rows,
            then builds the primary key and indexes (what a DBA seeding a new green would run)
  mmsync    add_sync(..., initial => 'copy'), both agents started; the copy timed from the agents'
            start until green's mmsync.copies says finished ("wall") and by the agent's own
            `done:` line ("agent"). Each --variant is one more such tool (another jar or options).
--index gives `big` two secondary indexes (on n and on at). --compare adds a tool: a copy by the
first variant, then `mmsync compare` of the identical table timed, then again with 100 rows
changed on green behind the sync's back (expects exactly 100 keys). --merge ROWS runs, after the rounds, one
add_sync(..., initial => 'merge') of blue's table against a green missing ROWS of its rows and
holding 100 others changed, and times it. Prints one line per round and the ratios; asserts
nothing about speed (but checks green's rows by fingerprint after every tool).
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
INDEXES = "CREATE INDEX big_n ON big (n); CREATE INDEX big_at ON big (at);"
FILL = ("INSERT INTO big SELECT g, md5(g::text), g % 1000, '2026-01-01'::timestamptz + g * interval '1 s', "
        "jsonb_build_object('k', g, 'tag', 'row ' || g, 'list', jsonb_build_array(g, g + 1, g + 2)) "
        "FROM generate_series(1, {rows}) g; ANALYZE big;")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fsync", choices=["on", "off"], default="off")
    ap.add_argument("--agent-opts", default="", help="options of the default mmsync variant's agents")
    ap.add_argument("--variant", action="append", default=[],
                    help="LABEL[@JAR]:OPTS, one more mmsync run per round (another jar or other agent options)")
    ap.add_argument("--dump", default="data,full", help="baselines: data, full, both as 'data,full', or 'none'")
    ap.add_argument("--only", choices=["both", "mmsync", "dump"], default="both")
    ap.add_argument("--index", action="store_true", help="two secondary indexes on big")
    ap.add_argument("--compare", action="store_true", help="time mmsync compare after the first variant's copy")
    ap.add_argument("--merge", type=int, default=0, help="rows green lacks for one merge run at the end (0: none)")
    ap.add_argument("--key", choices=["bigint", "text"], default="bigint",
                    help="big's key: bigint 1..N in heap order, or text (26 characters of md5, as Mattermost's ids: "
                         "key order unrelated to heap order)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.key == "text":
        if args.merge or args.compare:
            ap.error("--key text works with the copy only (not --merge or --compare)")
        global TABLE, FILL
        TABLE = TABLE.replace("id bigint", "id text")
        FILL = FILL.replace("SELECT g, md5", "SELECT substr(md5('k' || g), 1, 26), md5")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    jar = os.path.join(root, "pljava-module", "target", "mmsync.jar")
    variants = [("mmsync", jar, args.agent_opts)]
    for v in args.variant:
        label, _, opts = v.partition(":")
        label, _, vjar = label.partition("@")
        variants.append((label, vjar or jar, opts))
    if args.variant and not args.agent_opts:
        variants = variants[1:]  # only the named variants
    dumps = [] if args.dump == "none" else [("dump" if d == "data" else "dumpfull") for d in args.dump.split(",")]
    tools = ([d for d in dumps] if args.only != "mmsync" else []) + ([v[0] for v in variants] if args.only != "dump" else [])
    tools += ["compare"] if args.compare else []
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
            c.psql("tpl", "CREATE EXTENSION mmsync; " + TABLE + (INDEXES if args.index else ""))
        t0 = time.time()
        blue.psql("tpl", FILL.format(rows=args.rows), timeout=1800)
        size = blue.value("tpl", "SELECT pg_size_pretty(pg_total_relation_size('big'))")
        print(f"blue: {args.rows:,} rows, {size} (filled in {time.time() - t0:.1f} s); fsync={args.fsync}; "
              f"indexes: {'primary key, n, at' if args.index else 'primary key'}; key {args.key}; tools: "
              + "; ".join(t for t in tools if t.startswith("dump"))
              + "".join(f"; {v[0]} ({v[1]} {v[2] or '(defaults)'})" for v in variants if v[0] in tools),
              flush=True)
        results = []
        for r in range(1, args.rounds + 1):
            k = (r - 1) % len(tools)
            order = tools[k:] + tools[:k]
            row = {}
            pkey = {}  # size of green's primary key index after each tool (MB)
            for what in order:
                db = f"{what}{r}".replace("-", "_").lower()  # each its own fresh pair of databases
                for c in clusters:
                    c.psql("postgres", f"CREATE DATABASE {db} TEMPLATE tpl")
                green.psql(db, "DROP TABLE big" if what == "dumpfull" else "TRUNCATE big")
                for c in clusters:
                    c.psql(db, "CHECKPOINT")
                cpu0 = server_cpu(blue) + server_cpu(green)
                blue0 = server_cpu(blue)
                kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                if what.startswith("dump"):
                    row[what] = dump(blue, green, db, full=(what == "dumpfull"))
                    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # pg_dump and psql
                    client = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
                elif what == "compare":  # a copy by the first variant, then the compares (their time only)
                    mmsync_copy(blue, green, db, variants[0][1], variants[0][2], base, r,
                                lambda: row.update(compare(blue, green, db, variants[0][1])))
                    client = 0
                else:
                    v = next(x for x in variants if x[0] == what)
                    row[what], row[what + " agent"], client = mmsync_copy(blue, green, db, v[1], v[2], base, r)
                    row[what + " jvm cpu"] = client
                for c in clusters:
                    quiet(c, db)
                if what != "compare":  # compare checked the rows, then changed some
                    row[what + " cpu"] = server_cpu(blue) + server_cpu(green) - cpu0 + client
                    row[what + " cpu blue"] = server_cpu(blue) - blue0  # the origin's backends alone
                    fp_check(blue, green, db, what)
                    pkey[what] = int(green.value(db, "SELECT pg_relation_size('big_pkey')")) / 1e6
                for c in clusters:
                    c.psql("postgres", f"DROP DATABASE {db}")
            results.append(row)
            print(f"round {r}: " + ", ".join(f"{k} {v:.2f} s" for k, v in row.items() if v is not None), flush=True)
            print("  green's primary key after each: " + ", ".join(f"{k} {v:.1f} MB" for k, v in pkey.items()), flush=True)
            for tag, (rss, before, after) in sorted(MEMORY.items()):
                print(f"  {tag}: origin's agent peak RSS {rss:.0f} MB, heap in use before a collection at most {before} MB, "
                      f"live after one at most {after} MB", flush=True)
            MEMORY.clear()
        if args.only == "both":
            for d in dumps:
                for v in variants:
                    for num, den, what in ((d, v[0], "time / wall"), (d, v[0] + " agent", "time / copy (agent's done:)"),
                                           (d + " cpu", v[0] + " cpu", "CPU seconds (servers and clients)")):
                        ratio_line(results, num, den, f"{d} / {v[0]} {what}")
        for v in variants[1:]:
            ratio_line(results, variants[0][0] + " agent", v[0] + " agent", f"{variants[0][0]} / {v[0]} copy time (agent's done:)")
            ratio_line(results, variants[0][0] + " cpu", v[0] + " cpu", f"{variants[0][0]} / {v[0]} CPU seconds")
        if args.merge:
            merge_run(blue, green, variants[0][1], variants[0][2], base, args.rows, args.merge)
    finally:
        for c in clusters:
            c.stop("immediate")
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


def ratio_line(results, num, den, label):
    ratios = sorted(r[num] / r[den] for r in results if r.get(num) and r.get(den))
    if ratios:
        print(f"ratio {label}: median {ratios[len(ratios) // 2]:.2f}, min {ratios[0]:.2f}, max {ratios[-1]:.2f}"
              f" ({len(ratios)} rounds)", flush=True)


def compare(blue, green, db, jar):
    """Times `mmsync compare` of the identical table, then with 100 rows changed on green behind the sync's back."""
    fp_check(blue, green, db, "mmsync copy")
    out = {}
    cmd = ["java", "-Xmx256m", "-jar", jar, "compare", "--db", blue.dsn(db), "app", "big"]
    t = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    out["compare identical"] = time.time() - t
    if p.returncode != 0:
        raise RuntimeError(f"compare of identical tables exited {p.returncode}: {p.stderr[-2000:]}")
    step = max(len_rows(blue, db) // 100, 1)
    green.psql(db, "SET session_replication_role = replica; SET mmsync.origin = 'bench'; "
                   f"UPDATE big SET a = 'changed behind the sync' WHERE id % {step} = 0 AND id <= {step * 100}")
    t = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    out["compare 100 differ"] = time.time() - t
    found = green.value(db, "SELECT count(*) FROM big WHERE a = 'changed behind the sync'")
    if p.returncode != 1 or found != "100":
        raise RuntimeError(f"compare with 100 rows changed exited {p.returncode} ({found} changed): {p.stdout[-1000:]} {p.stderr[-1000:]}")
    keys = blue.value(db, "SELECT count(*) FROM mmsync.compare('app', 'big')")
    if keys != "100":
        raise RuntimeError(f"compare found {keys} differing keys, not 100")
    return out


MEMORY = {}  # run tag -> the origin's agent's memory (peak RSS, heap)


def memory(pid, gc_log):
    """The agent's peak resident set (MB), the most heap in use before a collection and the most live after one (MB)."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
    before = after = 0
    try:
        with open(gc_log, errors="replace") as f:
            for m in re.finditer(r"(\d+)M->(\d+)M\((\d+)M\)", f.read()):
                before = max(before, int(m.group(1)))
                after = max(after, int(m.group(2)))
    except OSError:
        pass
    return rss, before, after


def len_rows(c, db):
    return int(c.value(db, "SELECT count(*) FROM big"))


def merge_run(blue, green, jar, opts, base, rows, missing):
    """One merge: green lacks `missing` of blue's rows (spread over the table) and holds 100 others changed."""
    db = "merge1"
    for c in (blue, green):
        c.psql("postgres", f"CREATE DATABASE {db} TEMPLATE tpl")
    step = max(rows // missing, 1)
    green.psql(db, FILL.format(rows=rows).replace("FROM generate_series(1, %d) g" % rows,
                                                  f"FROM generate_series(1, {rows}) g WHERE g % {step} <> 0"), timeout=1800)
    green.psql(db, f"UPDATE big SET a = 'older' WHERE id IN (SELECT id FROM big WHERE id % {step} = 1 LIMIT 100)")
    lacking = rows - len_rows(green, db)
    blue.psql(db, f"SELECT mmsync.add_node('blue', '{blue.dsn(db)}', true); SELECT mmsync.add_node('green', '{green.dsn(db)}');"
                  "SELECT mmsync.add_sync('app', '{blue,green}', tables => 'big', initial => 'merge', conflict => 'prefer', "
                  "prefer => 'blue')")
    wall, _, jvm = run_agents(blue, green, db, jar, opts, base, "merge", 3600)
    quiet(green, db)
    for _ in range(600):  # the merge records itself finished once both queues drained; wait for the last applies
        try:
            fp_check(blue, green, db, "merge")
            break
        except RuntimeError:
            time.sleep(0.5)
    fp_check(blue, green, db, "merge")
    rss, before, after = MEMORY.pop("merge", (0, 0, 0))
    print(f"merge: origin's agent peak RSS {rss:.0f} MB, heap before a collection at most {before} MB, live after at most {after} MB")
    print(f"merge: {lacking:,} rows on blue only and 100 differing, of {rows:,}: {wall:.1f} s "
          f"({(lacking + 100) / wall:,.0f} rows/s), agents' CPU {jvm:.1f} s", flush=True)


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


def dump(blue, green, db, full=False):
    t = time.time()
    cmd = (f"{pg.PGBIN}/pg_dump -h 127.0.0.1 -p {blue.port} -U postgres -t big {'' if full else '--data-only'} {db} | "
           f"{pg.PGBIN}/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p {green.port} -U postgres {db}")
    pg.run(["bash", "-o", "pipefail", "-c", cmd], timeout=1800)
    return time.time() - t


def mmsync_copy(blue, green, db, jar, opts, base, r, after=None):
    blue.psql(db, f"SELECT mmsync.add_node('blue', '{blue.dsn(db)}', true); SELECT mmsync.add_node('green', '{green.dsn(db)}');"
                  "SELECT mmsync.add_sync('app', '{blue,green}', tables => 'big', initial => 'copy')")
    wall, logs, jvm = run_agents(blue, green, db, jar, opts, base, f"{db}", 1800, after)
    agent = None
    with open(logs[0], errors="replace") as f:
        m = re.search(r"done: [\d,]+ rows, [\d.]+ MB in ([\d.]+) s", f.read())
        if m:
            agent = float(m.group(1))
    return wall, agent, jvm


def run_agents(blue, green, db, jar, opts, base, tag, timeout, after=None):
    """Starts both agents, waits until green records the copy (or merge) finished; returns wall time, logs, JVM CPU.
    `after` runs while the agents still run, after the JVMs' CPU time was read."""
    agents = []
    t = time.time()
    logs = []
    for c in (blue, green):
        log = os.path.join(base, f"agent-{c.name}-{tag}.log")
        logs.append(log)
        f = open(log, "w")
        gc = os.path.join(base, f"gc-{c.name}-{tag}.log")
        cmd = (["java", "-Xmx256m", f"-Xlog:gc:file={gc}"] + wrapper_defaults(opts) + opts.split()
               + ["-jar", jar, "agent", "--db", c.dsn(db), "--poll-ms", "200"])
        agents.append(subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT))
    poll = green.session(db)  # one connection for the polling (a psql per poll would cost CPU of its own)
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if poll.query("SELECT count(*) FROM mmsync.copies WHERE finished_at IS NOT NULL") == [["1"]]:
                break
            if any(a.poll() is not None for a in agents):
                raise RuntimeError("an agent stopped; logs " + ", ".join(logs))
            time.sleep(0.1)
        else:
            raise RuntimeError("copy did not finish; log " + logs[0])
        wall = time.time() - t
        for _ in range(100):  # the origin's agent logs its `done:` line just after the hand-over
            with open(logs[0], errors="replace") as f:
                if "done: " in f.read() or tag == "merge":
                    break
            time.sleep(0.1)
        jvm = sum(proc_cpu(a.pid) for a in agents)
        MEMORY[tag] = memory(agents[0].pid, os.path.join(base, f"gc-blue-{tag}.log"))
        if after:
            after()
    finally:
        poll.close()
        for a in agents:
            a.terminate()
            a.wait(timeout=30)
    return wall, logs, jvm


def wrapper_defaults(opts):
    """The JVM options the installed `mmsync` wrapper adds (installer/install.sh) unless opts pick their own:
    the serial collector and C1 only. Without them the agents ran with G1 and C2, which cost about 1 CPU
    second more per copy (the compilers' threads), a cost the installed agent does not have."""
    out = []
    if not re.search(r"-XX:\+Use\w*GC", opts):
        out.append("-XX:+UseSerialGC")
    if "TieredStopAtLevel" not in opts and "TieredCompilation" not in opts:
        out.append("-XX:TieredStopAtLevel=1")
    return out


def fp_check(blue, green, db, what):
    q = "SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY id)) FROM big t"
    b, g = blue.value(db, q), green.value(db, q)
    if b != g:
        raise RuntimeError(f"{what}: green differs from blue ({g} vs {b})")


if __name__ == "__main__":
    main()
