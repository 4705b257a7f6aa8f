"""Compare two results folders run by run, bit for bit: metrics, samples, evaluation indices,
best weights and per-epoch history (wall-clock seconds excepted).

Why: a refactor must not change a number. Run a smoke batch before and after it, then
    PYTHONPATH=. .venv/bin/python tools/compare_results.py BEFORE_DIR AFTER_DIR
"""
import sys
import numpy as np
from shared.results import load_results_dir

a, b = load_results_dir(sys.argv[1]), load_results_dir(sys.argv[2])
assert set(a) == set(b), (set(a) ^ set(b))
diffs = []
def walk(x, y, where):
    if isinstance(x, dict):
        if set(x) != set(y):
            diffs.append(f"{where}: keys {sorted(set(x) ^ set(y))}")
        for k in set(x) & set(y):
            walk(x[k], y[k], f"{where}.{k}")
    elif isinstance(x, np.ndarray):
        if x.shape != y.shape or not np.array_equal(x, y, equal_nan=True):
            diffs.append(f"{where}: arrays differ")
    elif x != y and not (isinstance(x, float) and np.isnan(x) and np.isnan(y)):
        diffs.append(f"{where}: {x!r} != {y!r}")
n = 0
for model in sorted(a):
    for seed, run in a[model]["runs"].items():
        other = b[model]["runs"][seed]
        for part in ("metrics", "samples", "eval_indices", "weights", "history"):
            walk(run[part] if part != "history" else {k: v for k, v in run[part].items() if k != "seconds"},
                 other[part] if part != "history" else {k: v for k, v in other[part].items() if k != "seconds"},
                 f"{model}/{seed}/{part}")
        n += 1
print(f"{n} runs compared; {len(diffs)} differences")
for d in diffs[:30]:
    print(" ", d)
