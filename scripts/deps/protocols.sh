#!/usr/bin/env bash
# Real peers for the PROXY-protocol, TLS and MQTT tests: nginx (stream), curl, redis-cli, HAProxy (sends PROXY v1/v2 headers with
# `send-proxy` / `send-proxy-v2`) and the mosquitto command-line clients (`mosquitto_pub` speaks MQTT
# 3.1.1 and 5.0) with the mosquitto broker (the mqtt-proxy test runs two). Idempotent: installs only what is missing.
set -euo pipefail
missing=()
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# nginx with its stream module: the PROXY-protocol-out test puts it behind Sluice (`listen … proxy_protocol`)
{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } || missing+=(nginx-light)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(libnginx-mod-stream)
command -v curl >/dev/null 2>&1 || missing+=(curl)
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
