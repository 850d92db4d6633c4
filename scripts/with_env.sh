#!/usr/bin/env bash
# Runs a command inside the provisioned environment (provisioning it first; see setup_env.sh):
# the venv first on PATH and COMFYUI_PATH naming the ComfyUI tree (yours, or the pinned copy).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
provisioned="$("$ROOT/scripts/setup_env.sh")"  # the ComfyUI tree, then the venv
COMFYUI_PATH="${provisioned%%$'\n'*}"
VENV="${provisioned#*$'\n'}"
export COMFYUI_PATH VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH"
cd "$ROOT"
exec "$@"
