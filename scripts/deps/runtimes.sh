#!/usr/bin/env bash
# Tools the runtime tests need: python3 (holds a port that never answers a SYN, for the adapter
# conformance suite's connect-timeout check) and the mariadb client (a MariaDB session through the
# Bun single binary). bun and deno come from node_modules (devDependencies). Idempotent.
set -euo pipefail
missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3-minimal)
command -v mariadb >/dev/null 2>&1 || missing+=(mariadb-client)
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
