#!/usr/bin/env bash
# Everything `npm test`, `npm run demo` and `npm run bench` need on a fresh machine: dependencies
# (npm ci when node_modules is missing or older than the lock file), the TypeScript build, and the local
# RabbitMQ and Redis servers (installed from Debian packages when missing, bound to 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[prepare] installing dependencies" >&2
  # `npm install --no-save` installs exactly the locked versions like `npm ci`, but tolerates a lock file
  # whose optional per-platform binaries (darwin/win32 builds of msgpackr-extract...) the registry mirror
  # never listed; `npm ci` refuses such a lock file as "out of sync".
  npm install --no-save --no-audit --no-fund --loglevel=error
fi
echo "[prepare] building" >&2
npx tsc -p tsconfig.json
bash scripts/services.sh start
# The operator console's browser test drives Debian's chromium (headless); install it when missing.
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/lib/chromium/chromium ]; then
  echo "[prepare] installing chromium (operator console browser test)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
