#!/usr/bin/env bash
# Every test tier in one pytest run (unit, integration, server, and browser once tests/browser
# exists); extra arguments go to pytest, e.g. `scripts/test.sh -m server`.
# pytest's exit code is ours, so "no tests collected" (5) fails too.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# Hook for the browser tier: tests/browser/setup.sh provisions what it needs (idempotent).
if [ -x tests/browser/setup.sh ]; then
  scripts/with_env.sh tests/browser/setup.sh
fi
ci_args=()
if [ "${CI:-}" = "true" ]; then
  ci_args=(-p no:cacheprovider --durations=10)
fi
exec scripts/with_env.sh python -m pytest "${ci_args[@]}" "$@"
