#!/usr/bin/env bash
# Every test tier in one pytest run (unit, integration, server, and browser once tests/browser
# exists); extra arguments go to pytest, e.g. `scripts/test.sh -m server`.
# pytest's exit code is ours, so "no tests collected" (5) fails too.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# The browser tier (tests/browser, collected like every other tier) needs Chromium and
# playwright-core first; scripts/install_browser.sh provisions them (idempotent) when the
# run may include that tier (no arguments, or arguments naming it but not `-m "not browser"`).
wants_browser() { [ -z "$*" ] || { [[ "$*" == *browser* ]] && [[ "$*" != *"not browser"* ]]; }; }
if [ -d tests/browser ] && [ -x scripts/install_browser.sh ] && wants_browser "$@"; then
  scripts/install_browser.sh
fi
ci_args=()
if [ "${CI:-}" = "true" ]; then
  ci_args=(-p no:cacheprovider --durations=10)
fi
exec scripts/with_env.sh python -m pytest "${ci_args[@]}" "$@"
