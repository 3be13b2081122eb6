#!/usr/bin/env bash
# The main job: install what is missing, build, then
#   1. profile this machine as a cluster of 4 ranks, and the gpt-mini model on it: as root, an
#      emulated cluster of 2 nodes x 2 ranks (network namespaces joined by a 1 Gbit/s link,
#      `paratune launch --emulate-link`; EMULATE=0 turns it off, LINK=RATE[:LATENCY] sets the
#      link), otherwise one node of 4 local ranks
#   2. calibrate: train one plan of each family for a few steps and fit the cost model's
#      multipliers to them (paratune calibrate; CALIBRATE=0 skips it), then search a plan for
#      gpt-mini on those ranks under a memory limit that rules out plain DP
#   3. train it and the baseline plans that fit (pure DP, ZeRO-3, Megatron rule) for a few dozen
#      steps on the same ranks (the memory limit enforced), and report predicted vs measured time
#      and memory and the measured speed-up over the fastest baseline
#   4. the planning pipeline on real and spec-sheet inputs: Galvatron's measured A800 profiles
#      (../shared/data/galvatron-a800) for llama2-7b on 8 GPUs, gpt-small on 2 x 8 A100
# Outputs go to out/ (override with OUT=dir). JOBS=N sets the build parallelism; RANKS=N the
# ranks (default 4), STEPS=N the training steps (default 30), MEMORY the limit (12MiB).
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
ranks=${RANKS:-4}
steps=${STEPS:-30}
mem=${MEMORY:-12MiB}
model=configs/models/gpt-mini.json
link=${LINK:-1gbit:200us}
# Emulated nodes need root and network namespaces; probe with one that is deleted at once.
probe=ptdemo-probe-$$
if [[ ${EMULATE:-1} != 0 && $(id -u) -eq 0 ]] && ((ranks % 2 == 0)) &&
    ip netns add "$probe" 2>/dev/null; then
  ip netns del "$probe"
  launch=(--nnodes 2 --nproc-per-node $((ranks / 2)) --emulate-link "$link")
  where="an emulated cluster of 2 nodes x $((ranks / 2)) ranks joined by a $link link"
else
  launch=(--nproc-per-node "$ranks")
  where="one node of $ranks local ranks"
  [[ $(id -u) -eq 0 ]] || where+=" (not root: no emulated nodes)"
fi
echo "== [1/4] profiling this machine as $where (collectives, p2p, GEMM, overlap)"
$pt launch "${launch[@]}" -- $pt profile-cluster -o "$out/cluster.json" \
    --sizes 64KiB,1MiB,4MiB --repeats 3
$pt profile-cluster --summary "$out/cluster.json"
echo "== [1/4] profiling gpt-mini's layers on $ranks ranks at once"
$pt launch "${launch[@]}" -- $pt profile-model --model "$model" \
    -o "$out/gpt-mini.profile.json" --micro-batches 1,2,4
calibration=()
if [[ ${CALIBRATE:-1} != 0 ]]; then
  echo "== [2/4] calibrate: train one plan of each family for 6 steps, fit the cost model to them"
  $pt calibrate --cluster "$out/cluster.json" --model "$model" \
      --profile "$out/gpt-mini.profile.json" --global-batch 8 --repeats 2 --launch "${launch[*]}" \
      -o "$out/calibration.json"
  calibration=(--calibration "$out/calibration.json")
fi
echo "== [2/4] search: gpt-mini on $ranks ranks, $mem per rank, global batch 8"
rm -f "$out"/baseline-*.json
$pt search --cluster "$out/cluster.json" --model "$model" --profile "$out/gpt-mini.profile.json" \
    --memory-per-device "$mem" --global-batch 8 -o "$out/gpt-mini.strategy.json" \
    --baselines-dir "$out" "${calibration[@]}"
echo "== [3/4] train the searched plan for $steps steps on $where (limit $mem enforced)"
$pt launch "${launch[@]}" -- $pt train --strategy "$out/gpt-mini.strategy.json" \
    --model "$model" --steps "$steps" --memory-per-device "$mem" --metrics "$out/gpt-mini.metrics.json"
compare=()
for b in "$out"/baseline-*.json; do
  [[ -e $b ]] || continue
  name=$(basename "$b" .json)
  echo "== [3/4] train the ${name#baseline-} baseline for $steps steps (limit $mem enforced)"
  if $pt launch "${launch[@]}" -- $pt train --strategy "$b" --model "$model" \
      --steps "$steps" --memory-per-device "$mem" --metrics "$out/$name.metrics.json"; then
    compare+=(--baseline "${name#baseline-}=$out/$name.metrics.json")
  else
    echo "(the ${name#baseline-} baseline did not run under $mem: left out of the comparison)"
  fi
done
echo "== [3/4] predicted vs measured"
$pt report --strategy "$out/gpt-mini.strategy.json" --metrics "$out/gpt-mini.metrics.json" "${compare[@]}"
echo "== [4/4] planning on shipped inputs"
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
