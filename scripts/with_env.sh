#!/usr/bin/env bash
# Runs a command inside the provisioned environment (provisioning it first; see setup_env.sh):
# the venv first on PATH and COMFYUI_PATH naming the ComfyUI tree (yours, or the pinned copy).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${REWIND_CACHE:-$ROOT/.cache}/venv"
COMFYUI_PATH="$("$ROOT/scripts/setup_env.sh")"
export COMFYUI_PATH VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH"
cd "$ROOT"
exec "$@"
