#!/usr/bin/env bash
# Installs what the benchmark needs, each Debian package only if its binary is missing:
#   wrk                          the load generator (C, one thread: `wrk -t1`)
#   nginx-light                  the nginx `proxy_pass` target
#   apache2 + libapache2-mod-auth-openidc   the Apache + mod_auth_openidc targets
# Usage: bash bench/setup.sh [--smoke]   (--smoke: only wrk, which is all `run.js --smoke` needs)
# Needs root (apt-get). Without root, or if apt-get fails, it says what is missing and exits 0:
# the benchmark then skips those targets and says so (and falls back to autocannon without wrk).
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive

need=()
[ -x /usr/bin/wrk ] || need+=(wrk)
if [ "${1:-}" != "--smoke" ]; then
  [ -x /usr/sbin/nginx ] || need+=(nginx-light)
  [ -x /usr/sbin/apache2 ] || need+=(apache2)
  [ -f /usr/lib/apache2/modules/mod_auth_openidc.so ] || need+=(libapache2-mod-auth-openidc)
fi
[ "${#need[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "bench/setup.sh: missing ${need[*]} (install them with apt-get as root); the benchmark skips what it lacks" >&2
  exit 0
fi
echo "bench/setup.sh: apt-get install ${need[*]}" >&2
log="$(mktemp)"
# apache2's maintainer scripts try to start the service; there is no init system here, so nothing starts.
if { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } </dev/null >"$log" 2>&1; then
  rm -f "$log"
else
  cat "$log" >&2
  rm -f "$log"
  echo "bench/setup.sh: apt-get failed; the benchmark skips what it lacks" >&2
fi
exit 0
