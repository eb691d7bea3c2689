#!/usr/bin/env bash
# Tools the health-check and plugin tests run against: rsyslog (syslog plugin), promtool (Debian package
# `prometheus`, checks the metrics exposition and the alert rules), dnsmasq (a real DNS server for the
# UDP health probe), redis-server and redis-cli (limit-conn's Redis Cluster test starts a three-node
# cluster of its own). Idempotent: installs only what is missing.
set -euo pipefail
missing=()
command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ] || missing+=(rsyslog)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || missing+=(dnsmasq-base)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # policy-rc.d keeps the packages' own services from starting: the tests run their own instances.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
