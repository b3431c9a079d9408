#!/usr/bin/env bash
# Everything `npm test`, `npm run demo` and `npm run bench` need on a fresh machine: dependencies
# (npm ci when node_modules is missing or older than the lock file), the TypeScript build, and the local
# RabbitMQ and Redis servers (installed from Debian packages when missing, bound to 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[prepare] installing dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "[prepare] building" >&2
npx tsc -p tsconfig.json
bash scripts/services.sh start
