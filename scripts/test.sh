#!/usr/bin/env bash
# Installs what is missing, builds, and runs the tests:
#   1. the planning libraries alone with PARATUNE_WITH_TORCH=OFF (no libtorch in that build),
#   2. everything (libtorch executor included), all ctest tiers.
# Tiers: ctest -L unit | dist | gpu. JOBS=N overrides the build parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
bash scripts/install_deps.sh

echo "== [1/2] planning libraries without libtorch (PARATUNE_WITH_TORCH=OFF)"
# The planning folders must not include libtorch at all.
if grep -rlE '#include <(torch|ATen|c10)/' core estimator search apps/plan; then
  echo "paratune: libtorch include found in a planning folder" >&2
  exit 1
fi
cmake -S . -B build-notorch -DPARATUNE_WITH_TORCH=OFF -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build-notorch -j"$jobs"
ctest --test-dir build-notorch --output-on-failure -j"$jobs"

echo "== [2/2] full build (libtorch)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure
