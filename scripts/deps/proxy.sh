#!/usr/bin/env bash
# Tools the data-plane tests drive real traffic with: dnsmasq (a DNS server behind a udp route),
# dig (dnsutils), openssl (s_server / s_client for SNI passthrough), the mariadb client, redis-cli and
# redis-benchmark, python3. Idempotent: installs only what is missing.
set -euo pipefail
missing=()
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || missing+=(dnsmasq-base)
command -v dig >/dev/null 2>&1 || missing+=(dnsutils)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v mariadb >/dev/null 2>&1 || missing+=(mariadb-client)
command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
# python3 holds a listening socket that never accepts (a node whose connects time out)
command -v python3 >/dev/null 2>&1 || missing+=(python3-minimal)
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
