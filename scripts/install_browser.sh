#!/usr/bin/env bash
# Browser test tier prerequisites: Debian's headless-capable Chromium and playwright-core (npm).
# Idempotent: skips what is already there. `make test` calls it before the browser tier.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install_browser.sh: /usr/bin/chromium is missing; run as root or 'sudo apt-get install -y chromium'" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if [ ! -d "$ROOT/tests/browser/node_modules/playwright-core" ]; then
  (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund --silent)
fi
echo "browser tier ready: $(/usr/bin/chromium --version)"
