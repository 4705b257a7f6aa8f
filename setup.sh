#!/usr/bin/env bash
# Set up (idempotent): a virtual environment in .venv with the pinned CPU requirements and this
# project installed in editable mode. Needs Python 3.11 and the package registry, nothing else.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON_BIN="${PYTHON_BIN:-python3.11}"
command -v "$PYTHON_BIN" >/dev/null 2>&1 || PYTHON_BIN=python3
stamp=.venv/.installed-$(cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
if [ -f "$stamp" ]; then
  exit 0
fi
echo "setup: creating .venv with $($PYTHON_BIN --version) and installing requirements.txt (a few minutes, once)"
[ -x .venv/bin/python ] || "$PYTHON_BIN" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
.venv/bin/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (vae-benchmark)" >/dev/null
rm -f .venv/.installed-* && touch "$stamp"
echo "setup: done"
