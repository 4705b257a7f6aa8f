"""Compare two results folders run by run, bit for bit: metrics, samples, evaluation indices,
best weights and per-epoch history (wall-clock seconds excepted).

Why: a refactor must not change a number. Run a smoke batch before and after it, then

    PYTHONPATH=. .venv/bin/python tools/compare_results.py BEFORE_DIR AFTER_DIR

Exit status 1 when anything differs (the first differences are listed).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from shared.results import load_results_dir

PARTS = ("metrics", "samples", "eval_indices", "weights", "history")


def differences(x: Any, y: Any, where: str) -> list[str]:
    """Where two plain-data trees differ (NaN equals NaN)."""
    if isinstance(x, dict) and isinstance(y, dict):
        out = [f"{where}: keys {sorted(set(x) ^ set(y))}"] if set(x) != set(y) else []
        for key in sorted(set(x) & set(y), key=str):
            out += differences(x[key], y[key], f"{where}.{key}")
        return out
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        same = np.shape(x) == np.shape(y) and np.array_equal(x, y, equal_nan=True)
        return [] if same else [f"{where}: arrays differ"]
    both_nan = isinstance(x, float) and isinstance(y, float) and np.isnan(x) and np.isnan(y)
    return [] if x == y or both_nan else [f"{where}: {x!r} != {y!r}"]


def _comparable(run: dict, part: str) -> Any:
    value = run[part]
    return {k: v for k, v in value.items() if k != "seconds"} if part == "history" else value


def main(argv: list[str]) -> int:
    before, after = load_results_dir(argv[0]), load_results_dir(argv[1])
    found = [f"models differ: {sorted(set(before) ^ set(after))}"] if set(before) != set(after) else []
    n = 0
    for model in sorted(set(before) & set(after)):
        runs_a, runs_b = before[model]["runs"], after[model]["runs"]
        for seed in sorted(set(runs_a) & set(runs_b)):
            for part in PARTS:
                found += differences(_comparable(runs_a[seed], part), _comparable(runs_b[seed], part),
                                     f"{model}/{seed}/{part}")  # fmt: skip
            n += 1
    print(f"{n} runs compared; {len(found)} differences")
    for line in found[:30]:
        print(" ", line)
    return 1 if found else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: tools/compare_results.py BEFORE_DIR AFTER_DIR")
    sys.exit(main(sys.argv[1:]))
