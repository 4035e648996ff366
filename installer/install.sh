#!/usr/bin/env bash
# Installs mmsync on this machine:
#   1. the extension's files into `pg_config --sharedir`/extension (then CREATE EXTENSION mmsync
#      works in any database of that server);
#   2. with --jar, also builds the engine and installs it as /usr/local/lib/mmsync/mmsync.jar with
#      a wrapper /usr/local/bin/mmsync ("mmsync agent --db '<conninfo>'").
#   3. with --pljava, the in-database worker (README, "In-database worker"), for a server that has
#      PL/Java (installer/pljava.sh, or postgresql-15-pljava from apt.postgresql.org): the jar as
#      in 2 (mmsync.worker_jar), the worker library mmsync_worker into `pg_config --pkglibdir`
#      (PGXS: needs postgresql-server-dev-15, gcc, make), the Java policy it needs next to the jar;
#      with --db '<superuser conninfo of the node's database>' also PL/Java in that database, the
#      jar (sqlj), the entry points (sql/pljava/mmsync-pljava.sql) and the settings (ALTER SYSTEM;
#      restart the server afterwards). Without --db it prints those steps.
# Usage: installer/install.sh [--pg-config PATH] [--jar] [--pljava [--db CONNINFO] [--lib-dir DIR]]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
with_jar=no
with_pljava=no
db=
libdir=/usr/local/lib/mmsync
while [ $# -gt 0 ]; do
  case "$1" in
    --pg-config) pg_config=$2; shift 2 ;;
    --jar) with_jar=yes; shift ;;
    --pljava) with_pljava=yes; with_jar=yes; shift ;;
    --db) db=$2; shift 2 ;;
    --lib-dir) libdir=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$pg_config" ] || pg_config=$(command -v pg_config || true)
[ -n "$pg_config" ] || { echo "install.sh: pg_config not found; pass --pg-config" >&2; exit 1; }

"$root/installer/build-sql.sh" >/dev/null
extdir="$("$pg_config" --sharedir)/extension"
install -m 0644 "$root"/sql/build/mmsync.control "$root"/sql/build/mmsync--*.sql "$extdir/"
echo "installed extension mmsync into $extdir"

if [ "$with_jar" = yes ]; then
  (cd "$root" && mvn -q -o -DskipTests package 2>/dev/null || mvn -q -DskipTests package)
  install -d "$libdir"
  install -m 0644 "$root"/pljava-module/target/mmsync.jar "$libdir/mmsync.jar"
  if [ "$libdir" = /usr/local/lib/mmsync ]; then
    cat > /usr/local/bin/mmsync <<'EOS'
#!/bin/sh
exec java ${MMSYNC_JAVA_OPTS:--Xmx256m} -jar /usr/local/lib/mmsync/mmsync.jar "$@"
EOS
    chmod 0755 /usr/local/bin/mmsync
    echo "installed $libdir/mmsync.jar and /usr/local/bin/mmsync"
  else
    echo "installed $libdir/mmsync.jar"
  fi
fi

if [ "$with_pljava" = yes ]; then
  "$root/installer/pljava-setup.sh" --pg-config "$pg_config" --lib-dir "$libdir" ${db:+--db "$db"}
fi
