#!/usr/bin/env bash
# Run the whole benchmark: every (model, seed) training notebook through papermill, then the
# evaluation notebook. ./run_all.sh --help for the options. Resumable: re-run the same command.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
exec "$PY" -m shared.batch "$@"
