#!/usr/bin/env bash
# On a GPU machine, in one go: build the addon with CUDA, run the CUDA tests (CUDA vs CPU,
# bit for bit), run the GPU benchmark, and print a short table last.
#
#   bash bench/gpu.sh            (results in $OUT when it is set, else in a new folder
#                                 bench/results/local/gpu-<host>-<date>/, which git ignores)
#
# The machine needs node_modules already installed (npm ci) and nvcc; nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/results/local/gpu-$(hostname)-$(date +%Y%m%d-%H%M%S)-$$}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt" || true

npm run build:cuda 2>&1 | tail -n 5
npx tsc -p tsconfig.build.json
node bin/evolver.js backends | tee -a "$out/gpu.txt"

npx mocha test/kernels/cuda.test.ts test/kernels/de.test.ts 2>&1 | tee "$out/cuda-tests.txt" | tail -n 20

node bin/evolver.js bench kernels --backend cuda --size "${GPU_BENCH_SIZE:-1GiB}" --dtype f32 bf16 --no-numpy --out "$out/kernels-gpu.json" --json \
  > "$out/gpu-bench.txt" 2> "$out/gpu-bench.log"

echo
echo "== GPU benchmark (resident tensors) =="
grep -E '^(GPU|\| op|\|---|\| [a-z_]+ \| [a-z0-9]+ \| cuda)' "$out/gpu-bench.txt"
echo
echo "results in $out"
