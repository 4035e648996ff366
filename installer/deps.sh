#!/usr/bin/env bash
# Installs what mmsync needs from Debian's packages when it is missing (run as root).
#   --runtime  the build and the demo: JDK, Maven, PostgreSQL 15 server and client
#   --test     also what the tests use: haproxy
#   --bench    also everything bench/run compares against: python3 (its driver); Bucardo with
#              PL/Perl (postgresql-plperl-15: bucardo only recommends it, and recommends are not
#              installed here) and the Perl modules bucardo loads (DBD::Pg, DBIx::Safe, boolean,
#              Pod::Parser; bucardo's own dependencies, named so that they are there even when
#              bucardo comes from elsewhere); pglogical (postgresql-15-pglogical)
# postgresql-plperl-15 and postgresql-15-pglogical are built for one PostgreSQL 15 minor release:
# apt-get may upgrade postgresql-15 with them, which restarts running clusters of this server.
set -euo pipefail
want=(openjdk-17-jdk-headless maven postgresql-15 postgresql-client-15)
for a in "$@"; do
  case "$a" in
    --runtime) ;;
    --test) want+=(haproxy) ;;
    --bench) want+=(python3 bucardo postgresql-plperl-15 libdbd-pg-perl libdbix-safe-perl libboolean-perl
                    libpod-parser-perl postgresql-15-pglogical) ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "deps.sh: unknown option $a (--runtime, --test, --bench)" >&2; exit 2 ;;
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
apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
