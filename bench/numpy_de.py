"""The same DE trial as evolver's fused `de` kernel (current/1, element granularity, f32),
written the usual numpy way, for comparison in `evolver bench kernels`.

Usage: python3 bench/numpy_de.py N REPS  ->  prints {"ns_per_elem": ..., "n": N} as JSON.
"""
import json
import sys
import time

import numpy as np

n, reps = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
x, a, b = (rng.standard_normal(n, dtype=np.float32) for _ in range(3))
F, CR = np.float32(0.5), np.float32(0.9)
gen = np.random.Generator(np.random.Philox(42))
best = float("inf")
for _ in range(reps):
    t0 = time.perf_counter()
    mutant = x + F * (a - b)
    take = gen.random(n, dtype=np.float32) < CR
    child = np.where(take, mutant, x)
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"ns_per_elem": best / n * 1e9, "n": n, "numpy": np.__version__}))
