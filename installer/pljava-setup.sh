#!/usr/bin/env bash
# The in-database worker's part of installer/install.sh --pljava (run as root on the server, after
# the jar is in LIB_DIR): builds and installs the worker library, writes the Java policy and, with
# --db, sets PL/Java and the entry points up in the node's database and the server's settings.
#   installer/pljava-setup.sh --pg-config PATH --lib-dir DIR [--db '<superuser conninfo of the node database>']
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pg_config=/usr/lib/postgresql/15/bin/pg_config
libdir=/usr/local/lib/mmsync
db=
while [ $# -gt 0 ]; do
  case "$1" in
    --pg-config) pg_config=$2; shift 2 ;;
    --lib-dir) libdir=$2; shift 2 ;;
    --db) db=$2; shift 2 ;;
    *) echo "pljava-setup.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
die() { echo "install.sh --pljava: $*" >&2; exit 1; }
pkglib=$("$pg_config" --pkglibdir)
ls "$pkglib"/libpljava-so-*.so >/dev/null 2>&1 || die "PL/Java is not installed in $pkglib. On a production server:
  apt-get install postgresql-15-pljava   (the PostgreSQL project's repository, apt.postgresql.org)
or build it from source: installer/pljava.sh --pg-config $pg_config pljava-1.6.9-src.tar.gz"
[ -f "$("$pg_config" --includedir-server)/postgres.h" ] \
  || die "PostgreSQL server headers missing (building the worker library needs them): apt-get install postgresql-server-dev-15"
command -v make >/dev/null && command -v gcc >/dev/null || die "building the worker library needs gcc and make: apt-get install gcc make"
[ -r "$libdir/mmsync.jar" ] || die "no engine jar at $libdir/mmsync.jar"

make -s -C "$root/sql/worker" PG_CONFIG="$pg_config" with_llvm=no install >/dev/null
make -s -C "$root/sql/worker" PG_CONFIG="$pg_config" with_llvm=no clean >/dev/null
echo "installed the worker library mmsync_worker into $pkglib"
sed "s|@WORKER_JAR@|$libdir/mmsync.jar|g" "$root/installer/mmsync-pljava.policy" > "$libdir/mmsync-pljava.policy"
chmod 0644 "$libdir/mmsync-pljava.policy"
echo "wrote the Java policy $libdir/mmsync-pljava.policy"

libjvm=
for j in "${JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-21-openjdk-amd64; do
  [ -n "$j" ] && [ -f "$j/lib/server/libjvm.so" ] && { libjvm="$j/lib/server/libjvm.so"; break; }
done
[ -n "$libjvm" ] || die "no JDK 17 or 21 found (libjvm.so); install openjdk-17-jdk-headless or set JAVA_HOME"
case "$libjvm" in
  *-17-*) vmopts="-Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1" ;;
  *) vmopts="-Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.security.manager=allow" ;;
esac
policy_urls="\"file:\${org.postgresql.sysconfdir}/pljava.policy\",\"file:$libdir/mmsync-pljava.policy\",\"=\""

sql_settings() {  # $1: the node's database
  cat <<EOS
ALTER SYSTEM SET pljava.libjvm_location = '$libjvm';
ALTER SYSTEM SET pljava.vmoptions = '$vmopts';
ALTER SYSTEM SET pljava.policy_urls = '$policy_urls';
ALTER SYSTEM SET mmsync.worker_jar = '$libdir/mmsync.jar';
ALTER SYSTEM SET mmsync.worker_database = '$1';
EOS
}

if [ -z "$db" ]; then
  cat <<EOS
Next, in the node's database (the mmsync extension created there), as a superuser:
  SET pljava.libjvm_location = '$libjvm';
  CREATE EXTENSION IF NOT EXISTS pljava;
  SELECT sqlj.install_jar('file:$libdir/mmsync.jar', 'mmsync', true);   -- sqlj.replace_jar when upgrading
  SELECT sqlj.set_classpath('mmsync', 'mmsync');
  \\i $root/sql/pljava/mmsync-pljava.sql
  LOAD 'mmsync_worker';
$(sql_settings '<the node database>' | sed 's/^/  /')
  ALTER SYSTEM SET shared_preload_libraries = '<what it lists now>,mmsync_worker';
then restart the server. Or run this again with --db '<superuser conninfo of the node database>'.
EOS
  exit 0
fi

psql="$("$pg_config" --bindir)/psql"
run_psql() { "$psql" "$db" -X -q -v ON_ERROR_STOP=1 "$@"; }
dbname=$(run_psql -At -c "SELECT current_database()")
[ "$(run_psql -At -c "SELECT count(*) FROM pg_extension WHERE extname = 'mmsync'")" = 1 ] \
  || die "the extension mmsync is not installed in database $dbname: CREATE EXTENSION mmsync there first"
preload=$(run_psql -At -c "SHOW shared_preload_libraries")
case ",${preload// /}," in
  *,mmsync_worker,*) new_preload=$preload ;;
  ,,) new_preload=mmsync_worker ;;
  *) new_preload="$preload,mmsync_worker" ;;
esac
# the settings first, in a session that has not started a JVM (PL/Java refuses to change
# pljava.vmoptions once it has); SET makes the pljava.* names known to ALTER SYSTEM
run_psql <<EOS
SET pljava.libjvm_location = '$libjvm';
SET pljava.vmoptions = '$vmopts';
SET pljava.policy_urls = '$policy_urls';
LOAD 'mmsync_worker';
$(sql_settings "$dbname")
ALTER SYSTEM SET shared_preload_libraries = '$new_preload';
SELECT pg_reload_conf();
EOS
run_psql <<EOS 2>&1 | grep -v 'JEP 411\|^DETAIL:  This PL/Java\|^HINT:  For migration' || true
CREATE EXTENSION IF NOT EXISTS pljava;
SELECT CASE WHEN EXISTS (SELECT 1 FROM sqlj.jar_repository WHERE jarname = 'mmsync')
            THEN sqlj.replace_jar('file:$libdir/mmsync.jar', 'mmsync', true)
            ELSE sqlj.install_jar('file:$libdir/mmsync.jar', 'mmsync', true) END;
SELECT sqlj.set_classpath('mmsync', 'mmsync');
\\i $root/sql/pljava/mmsync-pljava.sql
EOS
run_psql -At -c "SELECT mmsync.java_version()" >/dev/null 2>&1 \
  || die "PL/Java cannot run mmsync's entry points in database $dbname (SELECT mmsync.java_version() fails); see the server log"
echo "set PL/Java and the entry points up in database $dbname, and the server's settings (ALTER SYSTEM):"
echo "  shared_preload_libraries = '$new_preload', mmsync.worker_database = '$dbname', pljava.* as above"
echo "restart the server; then SELECT mmsync.worker_check(); SELECT * FROM mmsync.engine_host(); (host: worker)"
echo "do not run an agent for this node as well: it would wait (README, \"In-database worker\")"
