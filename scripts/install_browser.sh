#!/usr/bin/env bash
# Browser test tier prerequisites: Debian's headless-capable Chromium, playwright-core (npm) and the
# newest comfyui-frontend-package (pip --target into the cache; the tier serves it with ComfyUI's
# --front-end-root next to the pinned one). Idempotent: skips what is already there; delete
# .cache/frontend-latest to pick up a newer frontend. `make test` calls it before the browser tier.
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
LATEST_FRONTEND="${REWIND_CACHE:-$ROOT/.cache}/frontend-latest"
if [ ! -f "$LATEST_FRONTEND/comfyui_frontend_package/static/index.html" ]; then
  "$ROOT/scripts/setup_env.sh" >/dev/null  # the venv whose pip installs it (a fresh clone has none yet)
  VENV="${REWIND_CACHE:-$ROOT/.cache}/venv"
  "$VENV/bin/python" -m pip install --quiet --no-deps --target "$LATEST_FRONTEND" --upgrade comfyui-frontend-package
fi
echo "newest frontend: $(ls "$LATEST_FRONTEND" | sed -n "s/^comfyui_frontend_package-\(.*\)\.dist-info$/\1/p")"
echo "browser tier ready: $(/usr/bin/chromium --version)"
