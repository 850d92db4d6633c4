#!/usr/bin/env bash
# Every test tier in one pytest run (tests/unit, integration, server, hostile, browser); extra
# arguments go to pytest, e.g. `scripts/test.sh -m server` or `scripts/test.sh tests/unit`.
# pytest's exit code is ours, so "no tests collected" (5) fails too.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# The browser tier (tests/browser, collected like every other tier) needs Chromium and
# playwright-core first; scripts/install_browser.sh provisions them (idempotent) when the
# run may include that tier (no arguments, or arguments naming it but not `-m "not browser"`).
wants_browser() { [ -z "$*" ] || { [[ "$*" == *browser* ]] && [[ "$*" != *"not browser"* ]]; }; }
if wants_browser "$@"; then
  scripts/install_browser.sh
fi
ci_args=()
if [ "${CI:-}" = "true" ]; then
  ci_args=(-p no:cacheprovider --durations=10)
fi
# The test models are tiny: torch's thread pool costs more than it gives on them (the same tiers ran
# 2-3x faster with one thread on a shared 2-core machine), and servers the tests start inherit this.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec scripts/with_env.sh python -m pytest "${ci_args[@]}" "$@"
