#!/usr/bin/env bash
# Installs mmsync on this machine, from the unpacked release archive (mmsync-<version>.tar.gz)
# or from a git checkout:
#   1. the extension's files into `pg_config --sharedir`/extension (then CREATE EXTENSION mmsync,
#      or ALTER EXTENSION mmsync UPDATE, works in any database of that server), and the C capture
#      trigger library mmsync_capture into `pg_config --pkglibdir` where it can be built (PGXS:
#      postgresql-server-dev-15, gcc, make; docs/capture.md): without it, or with --no-c-capture,
#      capture runs as PL/pgSQL;
#   2. the agent as PREFIX/lib/mmsync/mmsync.jar with a wrapper PREFIX/bin/mmsync
#      ("mmsync agent --db '<conninfo>'"), and README.md and docs/ in PREFIX/share/doc/mmsync:
#      from the archive always (its lib/mmsync.jar; nothing is built), from a git checkout with
#      --jar (built with Maven);
#   3. with --systemd, the unit mmsync-agent@.service into /etc/systemd/system (ExecStart under
#      PREFIX) and the OS user mmsync (home /var/lib/mmsync) that runs it, and /etc/mmsync.
#   4. with --pljava, the in-database worker (docs/worker.md), for a server that has
#      PL/Java (installer/pljava.sh, or postgresql-15-pljava from apt.postgresql.org): the jar as
#      in 2 (mmsync.worker_jar), the worker library mmsync_worker into `pg_config --pkglibdir`
#      (PGXS: needs postgresql-server-dev-15, gcc, make), the Java policy it needs next to the jar;
#      with --db '<superuser conninfo of the node's database>' also PL/Java in that database, the
#      jar (sqlj), the entry points (sql/pljava/mmsync-pljava.sql) and the settings (ALTER SYSTEM;
#      restart the server afterwards). Without --db it prints those steps. --lib-dir DIR puts the
#      jar and its policy in DIR instead of PREFIX/lib/mmsync (a directory the server can read).
# Running it again installs the same files again and changes nothing else.
# Usage: installer/install.sh [--pg-config PATH] [--prefix DIR (default /usr/local)] [--jar]
#                             [--systemd] [--no-extension] [--no-c-capture]
#                             [--pljava [--db CONNINFO] [--lib-dir DIR]]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pg_config=${PG_CONFIG:-}
prefix=/usr/local
with_jar=no
with_systemd=no
with_pljava=no
db=
libdir=
with_extension=yes
with_c_capture=yes
unit_dir=${MMSYNC_UNIT_DIR:-/etc/systemd/system}
die() { echo "install.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --pg-config) [ $# -ge 2 ] || die "--pg-config needs the path of pg_config"; pg_config=$2; shift 2 ;;
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
    --jar) with_jar=yes; shift ;;
    --systemd) with_systemd=yes; shift ;;
    --no-extension) with_extension=no; shift ;;
    --no-c-capture) with_c_capture=no; shift ;;
    --pljava) with_pljava=yes; with_jar=yes; shift ;;
    --db) [ $# -ge 2 ] || die "--db needs the conninfo of the node's database"; db=$2; shift 2 ;;
    --lib-dir) [ $# -ge 2 ] || die "--lib-dir needs a directory"; libdir=$2; shift 2 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) prefix=$(pwd)/$prefix ;; esac
[ "$prefix" = / ] || prefix=${prefix%/}

# the archive carries the built jar; a git checkout builds it with --jar
archive_jar="$root/lib/mmsync.jar"
if [ -f "$archive_jar" ]; then
  with_jar=yes
fi

if [ "$with_extension" = yes ]; then
  if [ -z "$pg_config" ]; then
    if [ -x /usr/lib/postgresql/15/bin/pg_config ]; then
      pg_config=/usr/lib/postgresql/15/bin/pg_config
    else
      pg_config=$(command -v pg_config || true)
    fi
    [ -n "$pg_config" ] || die "pg_config not found (it comes with postgresql-15 or libpq-dev); pass --pg-config /usr/lib/postgresql/15/bin/pg_config"
  fi
  [ -x "$pg_config" ] || die "$pg_config is not an executable pg_config; pass --pg-config PATH of PostgreSQL 15's"
  sharedir=$("$pg_config" --sharedir) || die "$pg_config --sharedir failed"
  [ -n "$sharedir" ] || die "$pg_config --sharedir printed nothing: is it PostgreSQL's pg_config?"
  extdir="$sharedir/extension"
  [ -d "$extdir" ] || die "$extdir does not exist: is $pg_config a PostgreSQL server's (postgresql-15)?"
  [ -f "$root/sql/mmsync.control" ] || die "$root/sql/mmsync.control is missing: run install.sh from the unpacked archive or a git checkout"
  built=$(bash "$root/installer/build-sql.sh") || die "building the extension's install script failed"
  install -m 0644 "$root"/sql/build/mmsync.control "$root"/sql/build/mmsync--*.sql "$extdir/"
  echo "installed extension mmsync ($(basename "$built" .sql | sed 's/mmsync--//') and its upgrade scripts) into $extdir"
  if [ "$with_c_capture" = yes ]; then
    if [ ! -f "$("$pg_config" --includedir-server)/postgres.h" ]; then
      echo "install.sh: note: no PostgreSQL server headers ($("$pg_config" --includedir-server)): capture runs as PL/pgSQL; for the C trigger: apt-get install postgresql-server-dev-15, then run install.sh again (docs/capture.md)" >&2
    elif ! command -v make >/dev/null || ! command -v gcc >/dev/null; then
      echo "install.sh: note: no gcc or make: capture runs as PL/pgSQL; for the C trigger: apt-get install gcc make, then run install.sh again (docs/capture.md)" >&2
    else
      make -s -C "$root/sql/capture" PG_CONFIG="$pg_config" with_llvm=no install >/dev/null \
        || die "building the capture library failed (sql/capture); --no-c-capture installs without it (capture then runs as PL/pgSQL)"
      make -s -C "$root/sql/capture" PG_CONFIG="$pg_config" with_llvm=no clean >/dev/null
      echo "installed the capture library mmsync_capture into $("$pg_config" --pkglibdir) (CREATE EXTENSION / ALTER EXTENSION UPDATE picks it; SELECT mmsync.capture_impl())"
    fi
  fi
fi

if [ "$with_jar" = yes ]; then
  if [ -f "$archive_jar" ]; then
    jar=$archive_jar
  else
    command -v mvn >/dev/null || die "--jar builds the agent with Maven, which is not installed (installer/deps.sh installs it); or use the release archive, which has the jar built"
    (cd "$root" && { mvn -B -q -o -DskipTests package 2>/dev/null || mvn -B -q -DskipTests package; }) \
      || die "mvn package failed in $root"
    jar=$root/pljava-module/target/mmsync.jar
    [ -f "$jar" ] || die "mvn package did not produce $jar"
  fi
  command -v java >/dev/null || echo "install.sh: note: no java on PATH; the agent needs a Java 17 runtime (openjdk-17-jre-headless)" >&2
  install -d "$prefix/lib/mmsync" "$prefix/bin" "$prefix/share/doc/mmsync"
  install -m 0644 "$jar" "$prefix/lib/mmsync/mmsync.jar"
  tmp=$(mktemp "$prefix/bin/.mmsync.XXXXXX")
  cat > "$tmp" <<EOS
#!/bin/sh
# mmsync (installed by installer/install.sh): java from JAVA_HOME if set, else from PATH.
# The serial collector unless MMSYNC_JAVA_OPTS picks one: the agent's live data is a page or two,
# and G1 grew the heap to its cap in a catch-up (peak RSS 265 MB at -Xmx256m, 164 MB serial).
# C1 only unless MMSYNC_JAVA_OPTS sets the tiers: C2 recompiled the agent's row paths for seconds
# after each start, 0.5-1.0 CPU s per 100,000 caught-up rows where C1 code needs 0.4 (bench/README.md).
java=java
[ -n "\${JAVA_HOME:-}" ] && java="\$JAVA_HOME/bin/java"
case " \${MMSYNC_JAVA_OPTS:-} " in
  *" -XX:+Use"*"GC "*) gc= ;;
  *) gc=-XX:+UseSerialGC ;;
esac
case " \${MMSYNC_JAVA_OPTS:-} " in
  *" -XX:TieredStopAtLevel="*|*"TieredCompilation "*) jit= ;;
  *) jit=-XX:TieredStopAtLevel=1 ;;
esac
exec "\$java" \$gc \$jit \${MMSYNC_JAVA_OPTS:--Xmx256m} -jar '$prefix/lib/mmsync/mmsync.jar' "\$@"
EOS
  chmod 0755 "$tmp"
  mv -f "$tmp" "$prefix/bin/mmsync"
  install -m 0644 "$root/README.md" "$prefix/share/doc/mmsync/"
  if [ -d "$root/docs" ]; then
    install -d "$prefix/share/doc/mmsync/docs"
    cp -R "$root/docs/." "$prefix/share/doc/mmsync/docs/"
  fi
  echo "installed $prefix/lib/mmsync/mmsync.jar and $prefix/bin/mmsync"
fi

if [ "$with_systemd" = yes ]; then
  unit="$root/installer/systemd/mmsync-agent@.service"
  [ -f "$unit" ] || die "$unit is missing"
  [ -x "$prefix/bin/mmsync" ] || die "$prefix/bin/mmsync is not installed: add --jar (git checkout) or run from the release archive"
  [ "$(id -u)" -eq 0 ] || die "--systemd creates the OS user mmsync and writes $unit_dir: run as root"
  if ! getent group mmsync >/dev/null; then
    groupadd --system mmsync
  fi
  if ! id mmsync >/dev/null 2>&1; then
    useradd --system --gid mmsync --home-dir /var/lib/mmsync --no-create-home \
      --shell /usr/sbin/nologin --comment "mmsync agent" mmsync
    echo "created OS user mmsync (home /var/lib/mmsync)"
  fi
  install -d -o mmsync -g mmsync -m 0750 /var/lib/mmsync
  install -d -m 0755 /etc/mmsync
  install -m 0644 "$root/installer/systemd/mmsync-agent.env.example" /etc/mmsync/agent.env.example
  install -d "$unit_dir"
  sed "s#/usr/local/#$prefix/#g" "$unit" > "$unit_dir/mmsync-agent@.service.tmp"
  chmod 0644 "$unit_dir/mmsync-agent@.service.tmp"
  mv -f "$unit_dir/mmsync-agent@.service.tmp" "$unit_dir/mmsync-agent@.service"
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl daemon-reload
  fi
  echo "installed $unit_dir/mmsync-agent@.service; per database: write /etc/mmsync/<db>.env (see /etc/mmsync/agent.env.example), then systemctl enable --now mmsync-agent@<db>"
fi

if [ "$with_pljava" = yes ]; then
  [ -n "$pg_config" ] || pg_config=/usr/lib/postgresql/15/bin/pg_config
  if [ -z "$libdir" ]; then
    libdir=$prefix/lib/mmsync
  elif [ "$libdir" != "$prefix/lib/mmsync" ]; then
    install -d "$libdir"
    install -m 0644 "$prefix/lib/mmsync/mmsync.jar" "$libdir/mmsync.jar"
  fi
  "$root/installer/pljava-setup.sh" --pg-config "$pg_config" --lib-dir "$libdir" ${db:+--db "$db"}
fi
