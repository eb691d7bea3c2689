#!/usr/bin/env bash
# Tools `npm run bench` drives and compares against: nginx with the stream module, HAProxy, iperf3,
# redis-benchmark (redis-tools) and redis-server as the backend, dnsmasq as the DNS backend, dnsperf as
# the DNS load generator, pgbench for the PostgreSQL workload, openssl (s_time) and socat for the TLS
# ones. Debian only; idempotent: installs only what is missing. Deliberately not under scripts/deps: CI
# must not pay for benchmark tools.
set -euo pipefail
missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have nginx || missing+=(nginx-light)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(libnginx-mod-stream)
have haproxy || missing+=(haproxy)
have iperf3 || missing+=(iperf3)
have redis-benchmark || missing+=(redis-tools)
have redis-server || missing+=(redis-server)
have dnsmasq || missing+=(dnsmasq-base)
have pgbench || missing+=(postgresql-client)
have openssl || missing+=(openssl)
have socat || missing+=(socat)
if ! have dnsperf; then
  # dnsperf is in Debian 12 (bookworm) main; on a release without it the harness reports the UDP DNS
  # figure as a workload error and carries on.
  if apt-cache show dnsperf >/dev/null 2>&1; then missing+=(dnsperf); fi
fi
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
if ! have dnsperf && [[ ! " ${missing[*]} " == *" dnsperf "* ]] && apt-cache show dnsperf >/dev/null 2>&1; then
  missing+=(dnsperf)
fi
# policy-rc.d keeps the packages' own services (nginx on :80, haproxy, redis) from starting: the
# harness runs its own instances on high loopback ports.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y --no-install-recommends "${missing[@]}"
