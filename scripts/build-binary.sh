#!/usr/bin/env bash
# Builds the Bun single binary dist/sluice (see runtime/bun/build-binary.ts and docs/runtimes.md).
# Usage: scripts/build-binary.sh [OUTFILE]
set -euo pipefail
cd "$(dirname "$0")/.."
bun="node_modules/.bin/bun"
[ -x "$bun" ] || { echo "bun is missing: run npm install (bun is a devDependency)" >&2; exit 1; }
mkdir -p dist
# the binary embeds the fresh data dir template (src/store/data-dir-template.ts)
node scripts/build-pgdata-template.mjs --if-stale
exec "$bun" runtime/bun/build-binary.ts "${1:-dist/sluice}"
