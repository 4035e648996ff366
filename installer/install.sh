#!/usr/bin/env bash
# Installs mmsync on this machine:
#   1. the extension's files into `pg_config --sharedir`/extension (then CREATE EXTENSION mmsync
#      works in any database of that server);
#   2. with --jar, also builds the engine and installs it as /usr/local/lib/mmsync/mmsync.jar with
#      a wrapper /usr/local/bin/mmsync ("mmsync agent --db '<conninfo>'").
# Usage: installer/install.sh [--pg-config PATH] [--jar]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
with_jar=no
while [ $# -gt 0 ]; do
  case "$1" in
    --pg-config) pg_config=$2; shift 2 ;;
    --jar) with_jar=yes; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
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
  install -d /usr/local/lib/mmsync
  install -m 0644 "$root"/pljava-module/target/mmsync.jar /usr/local/lib/mmsync/mmsync.jar
  cat > /usr/local/bin/mmsync <<'EOS'
#!/bin/sh
exec java ${MMSYNC_JAVA_OPTS:--Xmx256m} -jar /usr/local/lib/mmsync/mmsync.jar "$@"
EOS
  chmod 0755 /usr/local/bin/mmsync
  echo "installed /usr/local/lib/mmsync/mmsync.jar and /usr/local/bin/mmsync"
fi
