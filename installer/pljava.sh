#!/usr/bin/env bash
# Builds PL/Java from a source archive or directory and installs it into a PostgreSQL 15 server's
# files, when that server does not have it yet (run as root).
#   installer/pljava.sh [--pg-config PATH] [--cache DIR] [--force] SOURCE
#     SOURCE       pljava-<version>-src.tar.gz or an unpacked source directory
#     --pg-config  the server to install into (default /usr/lib/postgresql/15/bin/pg_config)
#     --cache      where the build and its Maven repository live, outside any clone
#                  (default /var/cache/mmsync/pljava): a second run with the same source
#                  installs the cached build without rebuilding, and builds offline
#     --force      install even when the server already has PL/Java
# Production servers should rather install the PostgreSQL project's package
# (apt.postgresql.org: postgresql-15-pljava); see docs/worker.md.
# Needs: JDK 17, Maven, gcc, make, postgresql-server-dev-15 (installer/deps.sh --pljava).
set -euo pipefail
pg_config=/usr/lib/postgresql/15/bin/pg_config
cache=${MMSYNC_PLJAVA_CACHE:-/var/cache/mmsync/pljava}
force=no
src=
while [ $# -gt 0 ]; do
  case "$1" in
    --pg-config) pg_config=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --force) force=yes; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "pljava.sh: unknown option $1" >&2; exit 2 ;;
    *) src=$1; shift ;;
  esac
done
say() { echo "pljava.sh: $*"; }
die() { echo "pljava.sh: $*" >&2; exit 1; }
[ -x "$pg_config" ] || die "no pg_config at $pg_config; pass --pg-config PATH"
pkglib=$("$pg_config" --pkglibdir)
if [ "$force" = no ] && ls "$pkglib"/libpljava-so-*.so >/dev/null 2>&1; then
  say "PL/Java already installed in $pkglib ($(basename "$(ls "$pkglib"/libpljava-so-*.so | tail -1)"))"
  exit 0
fi
[ -n "$src" ] || die "give the PL/Java source (archive or directory); production servers: apt-get install postgresql-15-pljava from apt.postgresql.org"
[ -e "$src" ] || die "PL/Java source $src not found"
java_home=${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}
[ -x "$java_home/bin/javac" ] || die "no JDK at $java_home; install openjdk-17-jdk-headless or set JAVA_HOME"
command -v mvn >/dev/null || die "mvn not found; install maven (installer/deps.sh --pljava)"
command -v gcc >/dev/null || die "gcc not found; install gcc (installer/deps.sh --pljava)"
[ -f "$("$pg_config" --includedir-server)/postgres.h" ] \
  || die "PostgreSQL server headers missing under $("$pg_config" --includedir-server); install postgresql-server-dev-15 (installer/deps.sh --pljava)"

# The build's key: the source's checksum and the server's version, so a cached build is reused
# only for the same source and PostgreSQL major version.
if [ -d "$src" ]; then
  key=$( (cd "$src" && find . -type f -not -path './*/target/*' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)
else
  key=$(sha256sum "$src" | cut -c1-16)
fi
key="$key-$("$pg_config" --version | awk '{print $2}' | cut -d. -f1)"
mkdir -p "$cache/m2" "$cache/builds"
built="$cache/builds/$key"
if [ -f "$built/pljava-pg.jar" ]; then
  say "using the cached build $built"
else
  work="$cache/work-$key"
  rm -rf "$work"; mkdir -p "$work"
  if [ -d "$src" ]; then cp -a "$src"/. "$work/"; else tar xzf "$src" -C "$work" --strip-components=1; fi
  offline=
  [ -f "$cache/m2/.filled" ] && offline=-o
  say "building PL/Java in $work (Maven repository $cache/m2${offline:+, offline}); this takes 1-3 minutes"
  start=$(date +%s)
  (cd "$work" && JAVA_HOME=$java_home mvn -q -B $offline -Dmaven.repo.local="$cache/m2" \
      -Dpgsql.pgconfig="$pg_config" clean install) > "$cache/build-$key.log" 2>&1 \
    || { tail -40 "$cache/build-$key.log" >&2; die "PL/Java build failed; full log $cache/build-$key.log"; }
  touch "$cache/m2/.filled"
  mkdir -p "$built"
  cp "$work"/pljava-packaging/target/pljava-pg*.jar "$built/pljava-pg.jar"
  rm -rf "$work"
  say "built in $(( $(date +%s) - start )) s; cached as $built"
fi
# The install jar puts the library into pkglibdir, the jars and SQL into sharedir/pljava and the
# default policy into sysconfdir, all as that pg_config reports them.
"$java_home/bin/java" -Dpgconfig="$pg_config" -jar "$built/pljava-pg.jar"
say "installed into $pkglib and $("$pg_config" --sharedir)/pljava"
say "then in postgresql.conf: pljava.libjvm_location = '$java_home/lib/server/libjvm.so'"
