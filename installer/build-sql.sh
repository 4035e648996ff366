#!/usr/bin/env bash
# Concatenates sql/src/**/*.sql (in path order) into sql/build/mmsync--<version>.sql, the
# extension's install script. The version lives in one place: sql/mmsync.control.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$root/sql/mmsync.control")
[ -n "$version" ] || { echo "build-sql: no default_version in sql/mmsync.control" >&2; exit 1; }
out="$root/sql/build/mmsync--$version.sql"
mkdir -p "$root/sql/build"
{
  for f in $(cd "$root/sql/src" && find . -name '*.sql' | LC_ALL=C sort); do
    printf '\n-- ---- %s\n' "${f#./}"
    cat "$root/sql/src/$f"
  done
} > "$out"
# upgrade steps (sql/updates/mmsync--A--B.sql) and the frozen install scripts of released
# versions (sql/released/mmsync--A.sql), so ALTER EXTENSION mmsync UPDATE has a path from each
for d in updates released; do
  [ -d "$root/sql/$d" ] && cp "$root"/sql/$d/*.sql "$root/sql/build/" 2>/dev/null || true
done
cp "$root/sql/mmsync.control" "$root/sql/build/"
echo "$out"
