#!/usr/bin/env bash
# Run the whole benchmark: every (model, seed) training notebook through papermill, then the
# evaluation notebook. ./run_all.sh --help for the options. Resumable: re-run the same command.
# Python: $PYTHON if set; else the active conda env / virtualenv; else ./.venv (setup.sh); else python3.
set -euo pipefail
cd "$(dirname "$0")"
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -n "${CONDA_PREFIX:-}" ] && [ -x "$CONDA_PREFIX/bin/python" ]; then PY="$CONDA_PREFIX/bin/python"
elif [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then PY="$VIRTUAL_ENV/bin/python"
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3
fi
exec "$PY" -m shared.batch "$@"
