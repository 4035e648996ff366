"""Throw-away PostgreSQL clusters and psql helpers for the benchmark (Python stdlib only).

A Cluster is initdb'd into a temp dir, listens on 127.0.0.1 only, and runs as the postgres OS
user when we are root (root cannot run initdb). Clients (psql, pgbench) connect over TCP as the
database user postgres with trust authentication.
"""
import os
import pwd
import shutil
import socket
import subprocess
import time

PGBIN = os.environ.get("MMSYNC_PG_BIN", "/usr/lib/postgresql/15/bin")
IS_ROOT = os.geteuid() == 0


class CommandError(RuntimeError):
    """A command failed; the message carries its exit code and the tail of its output."""


def run(cmd, *, timeout=600, check=True, env=None, input=None, as_postgres=False, cwd=None):
    """Runs cmd (a list), returns CompletedProcess with text output; raises CommandError."""
    if as_postgres and IS_ROOT:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                           input=input, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        raise CommandError(f"{' '.join(cmd[:4])}... timed out after {timeout} s") from e
    if check and p.returncode != 0:
        tail = (p.stderr or p.stdout or "").strip().splitlines()[-8:]
        raise CommandError(f"{os.path.basename(cmd[0])} exited {p.returncode}: " + " | ".join(tail))
    return p


def port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(start, taken=()):
    for p in range(start, start + 2000):
        if p not in taken and port_free(p):
            return p
    raise RuntimeError(f"no free TCP port at or above {start}")


_pg_config = {}


def pg_config(option):
    if option not in _pg_config:
        _pg_config[option] = run([f"{PGBIN}/pg_config", option], timeout=30).stdout.strip()
    return _pg_config[option]


def sharedir():
    return pg_config("--sharedir")


def pkglibdir():
    return pg_config("--pkglibdir")


def has_guc(name):
    """True if this PostgreSQL build knows the setting (some builds add their own GUCs)."""
    p = run([f"{PGBIN}/postgres", "--describe-config"], check=False, timeout=60)
    return any(line.split("\t", 1)[0] == name for line in p.stdout.splitlines())


class Cluster:
    """One PostgreSQL cluster under base_dir/name; start() it, stop() it, ask it SQL."""

    def __init__(self, name, base_dir, port, settings):
        self.name = name
        self.port = port
        self.data = os.path.join(base_dir, name)
        self.log = os.path.join(base_dir, name + ".log")
        self.settings = dict(settings)
        self.running = False

    def init(self):
        run([f"{PGBIN}/initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--locale=C.UTF-8"], as_postgres=True, cwd="/tmp", timeout=300)
        conf = dict(self.settings)
        conf.update({"listen_addresses": "'127.0.0.1'", "port": str(self.port),
                     "unix_socket_directories": f"'{self.data}'", "cluster_name": f"'{self.name}'"})
        lines = "\n".join(f"{k} = {v}" for k, v in conf.items())
        hba = ("local all all trust\nhost all all 127.0.0.1/32 trust\n"
               "host replication all 127.0.0.1/32 trust\n")
        # append as the cluster owner so that the files keep their owner and mode
        run(["sh", "-c", f"cat >> '{self.data}/postgresql.conf'"], input="\n# mmsync bench\n" + lines + "\n",
            as_postgres=True, cwd="/tmp")
        run(["sh", "-c", f"cat > '{self.data}/pg_hba.conf'"], input=hba, as_postgres=True, cwd="/tmp")

    def start(self):
        try:
            run([f"{PGBIN}/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start"],
                as_postgres=True, cwd="/tmp", timeout=90)
        except CommandError as e:
            raise CommandError(f"{e}; log tail: {tail(self.log, 5)}") from e
        self.running = True

    def stop(self, mode="fast"):
        if not self.running:
            return
        p = run([f"{PGBIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"],
                as_postgres=True, cwd="/tmp", timeout=90, check=False)
        if p.returncode != 0 and mode != "immediate":
            self.stop("immediate")
            return
        self.running = False

    def dsn(self, db):
        return f"host=127.0.0.1 port={self.port} dbname={db} user=postgres"

    def conn_args(self, db):
        """psql's connection options. (pgbench takes the database name as its last argument:
        its -d means --debug.)"""
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db]

    def pgbench_args(self, db):
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", db]

    def psql(self, db, sql, timeout=600, variables=None):
        """Runs SQL (stops at the first error); returns unaligned, tuples-only output."""
        cmd = [f"{PGBIN}/psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1"]
        for k, v in (variables or {}).items():
            cmd += ["-v", f"{k}={v}"]
        p = run(cmd + self.conn_args(db), input=sql, timeout=timeout)
        return p.stdout.strip()

    def value(self, db, sql, timeout=600):
        out = self.psql(db, sql, timeout=timeout)
        return out.splitlines()[-1] if out else None

    def session(self, db):
        return Session(self, db)


class Session:
    """A long-lived psql process fed over a pipe: one round trip per query, no reconnects.

    Used where the benchmark polls (lag, catch-up), so that the polling itself costs the
    server as little as a real client would.
    """
    END = "__mmbench_end__"

    def __init__(self, cluster, db):
        cmd = [f"{PGBIN}/psql", "-X", "-q", "-A", "-t", "-F", "|"] + cluster.conn_args(db)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)

    def query(self, sql):
        """Returns the result rows as lists of strings; raises on an error message."""
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo " + self.END + "\n")
        self.proc.stdin.flush()
        rows, errors = [], []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise CommandError("psql session ended: " + " | ".join(errors))
            line = line.rstrip("\n")
            if line == self.END:
                break
            if line.startswith(("ERROR:", "psql:", "FATAL:")):
                errors.append(line)
            elif line:
                rows.append(line.split("|"))
        if errors:
            raise CommandError(" | ".join(errors))
        return rows

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def tail(path, n):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(line.rstrip() for line in f.readlines()[-n:])
    except OSError:
        return "(no log)"


def make_base_dir(prefix="mmbench-"):
    import tempfile
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    if IS_ROOT:
        pw = pwd.getpwnam("postgres")
        os.chown(d, pw.pw_uid, pw.pw_gid)
    os.chmod(d, 0o755)
    return d


def remove_base_dir(d):
    shutil.rmtree(d, ignore_errors=True)


def wait_until(pred, timeout, interval=0.05):
    """Polls pred() until it returns a true value (returned) or timeout seconds pass (None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)
