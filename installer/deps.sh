#!/usr/bin/env bash
# Installs what mmsync needs from Debian's packages when it is missing (run as root).
#   --runtime  the build and the demo: JDK, Maven, PostgreSQL 15 server and client
#   --test     also what the tests use: haproxy, and what building PL/Java and the mmsync worker
#              library needs (the in-database worker tests; installer/pljava.sh)
#   --pljava   only the latter: gcc, make, postgresql-server-dev-15 and the headers it includes
#   --bench    also what the benchmarks compare against: bucardo, postgresql-15-pglogical
set -euo pipefail
want=(openjdk-17-jdk-headless maven postgresql-15 postgresql-client-15)
pljava_build=(gcc make postgresql-server-dev-15 libssl-dev libkrb5-dev libecpg-dev)
for a in "$@"; do
  case "$a" in
    --runtime) ;;
    --test) want+=(haproxy "${pljava_build[@]}") ;;
    --pljava) want+=("${pljava_build[@]}") ;;
    --bench) want+=(haproxy bucardo postgresql-15-pglogical) ;;
    *) echo "deps.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing packages ${missing[*]}; run as root or install them with apt-get" >&2; exit 1
fi
echo "deps.sh: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
