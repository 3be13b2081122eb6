#!/usr/bin/env bash
# The main job: install what is missing, build, and run the planning pipeline on shipped inputs.
#   1. import Galvatron's measured A800 hardware + llama2-7b profiles (../shared/data/galvatron-a800)
#   2. search llama2-7b on 8 x A800 under 36 GiB, global batch 16, and estimate the written plan
#   3. search gpt-small on a spec-sheet 2 x 8 A100 cluster with the analytic profile
# Outputs go to out/ (override with OUT=dir). JOBS=N sets the build parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
out=${OUT:-out}
bash scripts/install_deps.sh
echo "== building"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$jobs" --target paratune
pt=build/apps/paratune
mkdir -p "$out"
galv=../shared/data/galvatron-a800
if [[ -d $galv ]]; then
  echo "== importing Galvatron's A800 profiles"
  $pt import-galvatron --hardware "$galv/hardware" --nodes 1 --gpus-per-node 8 -o "$out/a800-1x8.json"
  $pt import-galvatron --computation "$galv/llama2-7b/computation_profiling_bf16_llama2-7b_all.json" \
      --memory "$galv/llama2-7b/memory_profiling_bf16_llama2-7b_all.json" \
      --model configs/models/llama2-7b.json -o "$out/llama2-7b.a800.profile.json"
  echo "== search: llama2-7b on 8 x A800, 36 GiB, global batch 16"
  $pt search --cluster "$out/a800-1x8.json" --model configs/models/llama2-7b.json \
      --profile "$out/llama2-7b.a800.profile.json" --memory-per-device 36GiB --global-batch 16 \
      -o "$out/llama2-7b.strategy.json"
  echo "== estimate of the written plan"
  $pt estimate --cluster "$out/a800-1x8.json" --model configs/models/llama2-7b.json \
      --profile "$out/llama2-7b.a800.profile.json" --strategy "$out/llama2-7b.strategy.json"
else
  echo "(no $galv: skipping the Galvatron A800 part)"
fi
echo "== search: gpt-small on 2 x 8 A100 (spec sheet, analytic profile), 4 GiB, global batch 64"
$pt search --cluster configs/clusters/a100-80gb-2x8.json --model configs/models/gpt-small.json \
    --memory-per-device 4GiB --global-batch 64 -o "$out/gpt-small.strategy.json"
echo "== done: outputs in $out/"
