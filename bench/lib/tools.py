"""The replication tools under test, behind one small interface.

Each tool gets its own database (bench_<tool>) on the same two clusters, blue and green, with
the same schema, and is set up, measured and torn down before the next one starts, so that only
one tool runs at a time.

  setup()     make the two-way sync run (blue <-> green)
  pause()     stop shipping changes; capture goes on, changes queue up
  resume()    ship again
  teardown()  stop everything the tool started (its databases stay until the clusters go)
  findings()  notable lines from the tool's own logs (errors, warnings)
  agent_pids  processes whose memory the catch-up figures report
"""
import os
import re
import shutil
import signal
import subprocess

import pg

SYNC = "bench"


class SetupError(RuntimeError):
    pass


class Tool:
    name = "none"
    replicates = False

    def __init__(self, ctx):
        self.ctx = ctx
        self.db = f"bench_{self.name}"
        self.blue, self.green = ctx.blue, ctx.green

    @staticmethod
    def missing():
        """What this machine lacks for the tool (empty list: nothing)."""
        return []

    def create_databases(self):
        """Same data on both nodes: pgbench -i is deterministic, then bench/lib/schema.sql."""
        for node, hid_start in ((self.blue, 1), (self.green, 2)):
            node.psql("postgres", f"CREATE DATABASE {self.db}")
            pg.run([f"{pg.PGBIN}/pgbench", "-i", "-q", "-s", str(self.ctx.cfg["scale"])] + node.pgbench_args(self.db),
                   timeout=600)
            with open(os.path.join(self.ctx.lib, "schema.sql")) as f:
                node.psql(self.db, f.read(), variables={"hid_start": hid_start})

    def setup(self):
        self.create_databases()

    def pause(self):
        pass

    def resume(self):
        pass

    def teardown(self):
        """Stops the tool; its databases stay until the clusters go. (DROP DATABASE hangs on
        PostgreSQL 15 while pglogical 2.4.2's supervisor runs: pglogical issues #399, #418.)"""

    def findings(self):
        return []

    def agent_pids(self):
        return {}

    def backend_pids(self):
        """Server processes that do the tool's work, whose CPU time catch-up reports (name: pid)."""
        return {}

    def conflicts(self, node):
        """The tool's own count of conflicts it resolved on node, by resolution (None: not kept)."""
        return None


# How mmsync is told that TPC-B's balances are additive (issue 3): an update on one node adds its
# old -> new difference to the other node's value instead of overwriting it. pgbench_history has
# no natural key (the benchmark gives it one for the other tools) and is only ever inserted into.
DELTA_COLUMNS = (("pgbench_accounts", "abalance"), ("pgbench_tellers", "tbalance"), ("pgbench_branches", "bbalance"))
DELTA_COLUMNS_SQL = " ".join(f"SELECT mmsync.set_column_policy('{t}', '{c}', 'delta');" for t, c in DELTA_COLUMNS)


class Mmsync(Tool):
    name = "mmsync"
    replicates = True

    def __init__(self, ctx):
        super().__init__(ctx)
        self.agents = {}
        self.logs = {}

    @staticmethod
    def missing():
        out = []
        if not os.path.exists(os.path.join(pg.sharedir(), "extension", "mmsync.control")):
            out.append("mmsync extension not installed (installer/install.sh)")
        return out

    def setup(self):
        if not os.path.exists(self.ctx.jar):
            raise SetupError(f"agent jar {self.ctx.jar} not built")
        self.create_databases()
        for node in (self.blue, self.green):
            node.psql(self.db, "CREATE EXTENSION mmsync")
        self.blue.psql(self.db, f"""
            SELECT mmsync.add_node('blue', '{self.blue.dsn(self.db)}', true);
            SELECT mmsync.add_node('green', '{self.green.dsn(self.db)}');
            SELECT mmsync.add_sync('{SYNC}', '{{blue,green}}', tables => 'all',
                                   exclude => 'benchlocal.ceiling, pgbench_history', insert_only => 'pgbench_history',
                                   initial => 'none');
            {DELTA_COLUMNS_SQL}""")
        for node in (self.blue, self.green):
            self.start_agent(node)
        # the blue agent pushes the sync (and its column policies) to green; green's agent then starts its sender
        want = f"1:{len(DELTA_COLUMNS)}"
        if not pg.wait_until(lambda: self.green.value(
                self.db, f"SELECT (SELECT count(*) FROM mmsync.syncs WHERE name = '{SYNC}' AND NOT removed) || ':' || "
                "(SELECT count(*) FROM mmsync.column_policies WHERE policy = 'delta')") == want, 60, 0.2):
            raise SetupError("the sync and its delta columns did not reach green within 60 s; agent log: "
                             + pg.tail(self.logs["blue"], 3))

    def start_agent(self, node):
        log = os.path.join(self.ctx.logs, f"mmsync-agent-{node.name}.log")
        self.logs[node.name] = log
        f = open(log, "a")
        # the JVM options the installed wrapper (installer/install.sh) runs the agent with by default
        opts = os.environ.get("MMSYNC_BENCH_JAVA_OPTS", "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xmx256m").split()
        cmd = ["java"] + opts + ["-jar", self.ctx.jar, "agent", "--db", node.dsn(self.db)]
        self.agents[node.name] = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=self.ctx.work)
        f.close()
        self.ctx.remember_pid(self.agents[node.name].pid)

    def use_jar(self, jar, java_opts=None):
        """Both agents restarted with agent jar {jar}, with JVM options {java_opts} (None: the default)."""
        for node in (self.blue, self.green):
            self.stop_agent(node.name)
        self.ctx.jar = os.path.abspath(jar)
        saved = os.environ.get("MMSYNC_BENCH_JAVA_OPTS")
        if java_opts is not None:
            os.environ["MMSYNC_BENCH_JAVA_OPTS"] = java_opts
        try:
            for node in (self.blue, self.green):
                self.start_agent(node)
        finally:
            if saved is None:
                os.environ.pop("MMSYNC_BENCH_JAVA_OPTS", None)
            else:
                os.environ["MMSYNC_BENCH_JAVA_OPTS"] = saved

    def stop_agent(self, name):
        p = self.agents.pop(name, None)
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)

    def link_state(self):
        return self.blue.value(self.db, f"SELECT state FROM mmsync.links WHERE sync_name = '{SYNC}' AND peer = 'green'")

    def pause(self):
        self.blue.psql(self.db, f"SELECT mmsync.pause('{SYNC}')")
        # the sender finishes what it is doing (a page, a purge), then marks itself paused
        timeout = self.ctx.cfg["drain_timeout"]
        if not pg.wait_until(lambda: self.link_state() == "paused", timeout, 0.05):
            raise SetupError(f"mmsync link not paused within {timeout} s (state {self.link_state()})")

    def resume(self):
        # resume() wakes the paused sender at once (NOTIFY), not at its next poll
        self.blue.psql(self.db, f"SELECT mmsync.resume('{SYNC}')")

    def teardown(self):
        for name in list(self.agents):
            self.stop_agent(name)

    def findings(self):
        out = []
        for name, log in self.logs.items():
            out += log_findings(log, re.compile(r"\b(WARNING|SEVERE|ERROR|Exception)\b"), f"agent {name}")
        return out

    def agent_pids(self):
        return {f"agent_{n}": p.pid for n, p in self.agents.items() if p.poll() is None}

    def backend_pids(self):
        # blue's link: its applier session on green, its sender session (queue reads) on blue
        out = {}
        for name, node, app in (("peer_backend", self.green, "mmsync applier % from blue"),
                                ("origin_backend", self.blue, "mmsync sender % to green")):
            pid = node.value(self.db, "SELECT pid FROM pg_catalog.pg_stat_activity WHERE datname = "
                             f"current_database() AND application_name LIKE '{app}' LIMIT 1")
            if pid:
                out[name] = int(pid)
        return out

    def conflicts(self, node):
        out = node.value(self.db, "SELECT coalesce(string_agg(resolution || '=' || n, ','), '') FROM "
                         "(SELECT resolution, count(*) n FROM mmsync.conflicts GROUP BY 1 ORDER BY 1) x")
        return dict((k, int(v)) for k, v in (x.split("=") for x in (out or "").split(",") if x))


class Bucardo(Tool):
    name = "bucardo"
    replicates = True

    def __init__(self, ctx):
        super().__init__(ctx)
        self.home = os.path.join(ctx.work, "bucardo-home")
        self.piddir = os.path.join(ctx.work, "bucardo-run")
        self.logdir = os.path.join(ctx.logs, "bucardo")
        for d in (self.home, self.piddir, self.logdir):
            os.makedirs(d, exist_ok=True)

    @staticmethod
    def missing():
        out = []
        if not shutil.which("bucardo"):
            out.append("bucardo (apt-get install bucardo)")
        if not os.path.exists(os.path.join(pg.pkglibdir(), "plperl.so")):
            out.append("PL/Perl (apt-get install postgresql-plperl-15)")
        for mod in ("DBD::Pg", "DBIx::Safe"):
            if subprocess.run(["perl", f"-M{mod}", "-e", "1"], capture_output=True).returncode != 0:
                out.append(f"perl module {mod} (comes with the bucardo package)")
        return out

    def bucardo(self, *args, timeout=120, check=True):
        # HOME is ours: bucardo install appends its password to ~/.pgpass and reads ~/.bucardorc
        env = dict(os.environ, HOME=self.home, PATH=f"{pg.PGBIN}:{os.environ.get('PATH', '')}")
        cmd = ["bucardo", "--no-bucardorc", "-h", "127.0.0.1", "-p", str(self.blue.port),
               "-U", "bucardo", "-d", "bucardo"] + list(args)
        p = pg.run(cmd, env=env, timeout=timeout, check=check, cwd=self.home)
        return p.stdout

    def setup(self):
        self.create_databases()
        env = dict(os.environ, HOME=self.home, PATH=f"{pg.PGBIN}:{os.environ.get('PATH', '')}")
        # Bucardo's own database lives on blue, as users usually put it on one of the nodes
        pg.run(["bucardo", "install", "--batch", "--dbhost", "127.0.0.1", "--dbport", str(self.blue.port),
                "--dbuser", "postgres", "--dbname", "postgres", "--pid-dir", self.piddir],
               env=env, timeout=120, cwd=self.home)
        self.bucardo("set", f"log_conflict_file={self.logdir}/conflict.log",
                     f"reason_file={self.logdir}/restart.reason", f"warning_file={self.logdir}/warning.log")
        for node in (self.blue, self.green):
            self.bucardo("add", "db", node.name, f"dbname={self.db}", "host=127.0.0.1",
                         f"port={node.port}", "user=postgres")
        self.bucardo("add", "all", "tables", "db=blue", "relgroup=bench", "-n", "public")
        self.bucardo("add", "sync", SYNC, "relgroup=bench", "dbs=blue:source,green:source")
        self.bucardo("start", "--log-destination", self.logdir, "mmsync benchmark")
        self.ctx.remember_piddir(self.piddir)

    def pause(self):
        # "bucardo pause/resume" restarts the sync's controller only at the daemon's next health
        # check (5-17 s here), so a stop and a start of the whole daemon is the quicker resume
        self.stop_daemon()

    def resume(self):
        self.bucardo("start", "--log-destination", self.logdir, "mmsync benchmark")

    def stop_daemon(self):
        self.bucardo("stop", "mmsync benchmark", check=False)
        if pg.wait_until(lambda: not bucardo_pids(self.piddir), 60, 0.1):
            return
        # a kid in the middle of a long sync run: its transaction rolls back, the next start redoes it
        left = bucardo_pids(self.piddir)
        self.ctx.note(self, f"Bucardo processes {left} still running 60 s after bucardo stop: sent SIGTERM")
        signal_all(left, signal.SIGTERM)
        if not pg.wait_until(lambda: not bucardo_pids(self.piddir), 10, 0.1):
            signal_all(bucardo_pids(self.piddir), signal.SIGKILL)
            if not pg.wait_until(lambda: not bucardo_pids(self.piddir), 10, 0.1):
                raise SetupError(f"Bucardo processes {bucardo_pids(self.piddir)} survived SIGKILL")
        self.end_backends()

    def end_backends(self):
        """Ends the server sessions of Bucardo processes that are gone. A killed process's session
        goes on with its statement (its VAC daemon's purge of the delta tables can take minutes),
        and its open transaction would hold back, e.g., the creation of pglogical's slots."""
        for node in (self.blue, self.green):
            n = node.value("postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE application_name LIKE 'bucardo%' AND pid <> pg_backend_pid()")
            if n != "0":
                self.ctx.note(self, f"ended {n} sessions Bucardo left on {node.name}")

    def teardown(self):
        self.bucardo("stop", "mmsync benchmark done", check=False)
        pg.wait_until(lambda: not bucardo_pids(self.piddir), 60, 0.2)
        signal_all(bucardo_pids(self.piddir), signal.SIGKILL)
        pg.wait_until(lambda: not bucardo_pids(self.piddir), 10, 0.2)
        self.end_backends()

    def findings(self):
        return log_findings(os.path.join(self.logdir, "log.bucardo"),
                            re.compile(r"(Warning|ERROR|FATAL|died|Failed)"), "bucardo")

    def agent_pids(self):
        return {f"bucardo_{i}": p for i, p in enumerate(bucardo_pids(self.piddir))}


class Pglogical(Tool):
    name = "pglogical"
    replicates = True

    @staticmethod
    def missing():
        out = []
        if not os.path.exists(os.path.join(pg.pkglibdir(), "pglogical.so")):
            out.append("pglogical (apt-get install postgresql-15-pglogical)")
        return out

    def subscribe(self, node, provider, name):
        node.psql(self.db, f"""SELECT pglogical.create_subscription(
            subscription_name := '{name}', provider_dsn := '{provider.dsn(self.db)}',
            replication_sets := '{{default}}', synchronize_structure := false,
            synchronize_data := false, forward_origins := '{{}}')""")

    def setup(self):
        self.create_databases()
        for node in (self.blue, self.green):
            node.psql(self.db, f"""CREATE EXTENSION pglogical;
                SELECT pglogical.create_node(node_name := '{node.name}', dsn := '{node.dsn(self.db)}');
                SELECT pglogical.replication_set_add_all_tables('default', ARRAY['public']);""")
        self.subscribe(self.green, self.blue, "blue_to_green")
        self.subscribe(self.blue, self.green, "green_to_blue")
        for node in (self.blue, self.green):
            if not pg.wait_until(lambda: node.value(self.db, "SELECT string_agg(status, ',') "
                                 "FROM pglogical.show_subscription_status()") == "replicating", 60, 0.2):
                raise SetupError(f"pglogical subscription on {node.name} not replicating after 60 s: "
                                 + pg.tail(node.log, 3))

    def pause(self):
        self.green.psql(self.db, "SELECT pglogical.alter_subscription_disable('blue_to_green', true)")

    def resume(self):
        self.green.psql(self.db, "SELECT pglogical.alter_subscription_enable('blue_to_green', true)")

    def teardown(self):
        for node, sub in ((self.green, "blue_to_green"), (self.blue, "green_to_blue")):
            try:
                node.psql(self.db, f"SELECT pglogical.drop_subscription('{sub}', true)", timeout=60)
            except pg.CommandError:
                pass  # the database is dropped next; a leftover slot is dropped below
        for node in (self.blue, self.green):
            # a slot left behind would hold WAL back for the rest of the run
            node.psql("postgres", "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                      f"WHERE database = '{self.db}' AND NOT active")

    def findings(self):
        out = []
        for node in (self.blue, self.green):
            out += log_findings(node.log, re.compile(r"\b(ERROR|FATAL|PANIC)\b"), f"{node.name} server log",
                                only=re.compile(r"pglogical|replication|apply|conflict", re.I))
        return out


ALL = {t.name: t for t in (Tool, Mmsync, Bucardo, Pglogical)}


def bucardo_pids(piddir):
    """Live Bucardo processes by their pid files. A file a killed process left behind may name a
    pid since reused by something else, and an exited daemon can linger as a zombie where nothing
    reaps orphans: only a running process whose command line says Bucardo counts."""
    pids = []
    for f in os.listdir(piddir) if os.path.isdir(piddir) else []:
        if f.endswith(".pid"):
            try:
                pid = int(open(os.path.join(piddir, f)).read().split()[0])
                with open(f"/proc/{pid}/stat") as st:
                    state = st.read().rsplit(")", 1)[1].split()[0]
                with open(f"/proc/{pid}/cmdline", "rb") as cl:
                    cmdline = cl.read().decode(errors="replace").lower()
                if state not in ("Z", "X") and "bucardo" in cmdline:
                    pids.append(pid)
            except (ValueError, IndexError, OSError):
                pass
    return pids


def signal_all(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def log_findings(path, pattern, source, only=None, limit=12):
    """Distinct matching lines of a log (timestamps and numbers folded), with counts."""
    counts, first = {}, {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if pattern.search(line) and (only is None or only.search(line)):
                    key = re.sub(r"\d+", "N", re.sub(r"^\S+ \S+ ", "", line.strip()))[:300]
                    counts[key] = counts.get(key, 0) + 1
                    first.setdefault(key, line.strip()[:400])
    except OSError:
        return []
    return [f"{source}: {first[k]}" + (f"  (x{counts[k]})" if counts[k] > 1 else "")
            for k in list(first)[:limit]]

