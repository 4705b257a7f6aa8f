"""The first code cell of every notebook: make ``import shared`` work wherever the kernel runs.

Jupyter starts the kernel in ``notebooks/``, papermill in whatever folder it is called from, and
the package may or may not be installed (``pip install -e .``); ``$VAE_BENCH_ROOT`` wins when set,
so a second checkout can be run without reinstalling.
"""

BOOTSTRAP = """
# Find the project: $VAE_BENCH_ROOT if set, else the installed package, else a parent of the cwd.
import importlib.util
import os
import sys
from pathlib import Path

_env = os.environ.get("VAE_BENCH_ROOT")
if _env or importlib.util.find_spec("shared") is None:
    _up = [Path(_env)] if _env else [Path.cwd(), *Path.cwd().parents]
    _root = next((d for d in _up if (d / "shared" / "registry.py").is_file()), None)
    if _root is None:
        raise RuntimeError("project not found: run this inside it, pip install -e . or set VAE_BENCH_ROOT")
    sys.path.insert(0, str(_root.resolve()))
"""
