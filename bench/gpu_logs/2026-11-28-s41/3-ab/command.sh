#!/usr/bin/env bash
# Session 41, third GPU call: gpu_check (GPU tests, CUDA C++ tests, CG and dense32 k=64
# benchmarks, ncu of CG) on the working tree (DIA loop unrolled), then the same CG benchmark
# and ncu profile with the previous dia_view.hpp (a loop to A.diagonals): an A/B in one call.
set -uo pipefail
export PYTHONUNBUFFERED=1
GPU_TESTS=gpu GPU_TEST_LIMIT=120 GPU_CPP_TESTS=1 GPU_BENCH_MODE=full GPU_BENCH_REPEAT=3 \
  GPU_BENCH_BUDGET=15 GPU_BENCH_CASE="cg|dense float32 32768x16384 k=64" GPU_BENCH_LIMIT=60 \
  GPU_PROFILE="cg" GPU_CHECK_BUDGET=215 bash .ci/gpu_check quick
ab="$OUT/ab.txt"
echo "== B: the previous dia_view.hpp (loop to A.diagonals)" | tee -a "$ab"
cp .wheels/dia_view_old.hpp cpp/include/rankwise/dia_view.hpp
start=$(date +%s)
RANKWISE_CUDA=ON CMAKE_BUILD_PARALLEL_LEVEL=16 CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++ \
  python3 -m pip install --no-build-isolation --no-deps . > /tmp/rebuild.log 2>&1 ||
  { tail -20 /tmp/rebuild.log | tee -a "$ab"; exit 1; }
echo "rebuild $(( $(date +%s) - start )) s" | tee -a "$ab"
timeout 60 python3 -m bench full --family gpu --repeat 3 --budget 15 --case cg 2>&1 |
  grep -A8 "== cg" | tee -a "$ab"
timeout 60 ncu --clock-control none --profile-from-start off --metrics gpu__time_duration.sum \
  --print-summary per-kernel python3 -m bench.gpu_profile run cg > /tmp/ncu_old.txt 2>&1
python3 -m bench.gpu_profile summarize /tmp/ncu_old.txt 2>&1 | head -8 | tee -a "$ab"
