#!/usr/bin/env bash
# The main job: a headless ComfyUI with the pack runs the reference unsample → resample
# workflow on assets/sample.mp4 and prints the output video and the roundtrip PSNR.
# VIDEO=... PROMPT=... WIDTH=... FRAMES=... restyle your clip (caps: 512 px, 48 frames; 0 lifts one);
# WORKFLOW=... runs your workflow instead (COMFYUI_PATH: your ComfyUI);
# COMFYUI_URL=http://host:port uses a ComfyUI that is already running.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
exec "$ROOT/scripts/with_env.sh" python -m rewind_queue.main_job "$@"
