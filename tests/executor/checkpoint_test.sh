#!/bin/sh
# Checkpoint acceptance tests, end to end through `paratune launch ... paratune train`.
# usage: checkpoint_test.sh PARATUNE CHECKPOINT_TOOL resume|crash|bad
#   resume: an uninterrupted 8-step run under plan A (4 ranks) saving every 4 steps is the
#           reference; its step-4 checkpoint is resumed under A (losses must be bit-identical)
#           and under B (pp1), C (pp4), D (2 ranks), E (8 ranks), S (1 rank) (rtol 1e-5), and a
#           tiny-llama one under B; `checkpoint inspect` describes and verifies it.
#   crash:  kill -9 of rank 2 in the middle of training, and SIGKILL of rank 1 half-way through
#           writing its shard / of rank 0 between writing and renaming the manifest; then the
#           run is resumed and its losses must equal the reference bit for bit.
#   bad:    truncated shard, corrupt shard byte, corrupt index, truncated manifest, foreign
#           manifest, other model config, empty dir: each a clear error naming the file (and
#           field) before any training step.
set -u
P=$1; TOOL=$2; PART=$3
T=$(mktemp -d)
BG=""
cleanup() { [ -n "$BG" ] && kill -9 "$BG" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$TOOL" --emit "$T" || { echo "cannot write test inputs"; exit 1; }
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; return 1; fi; }
GPT="$T/tiny-gpt.json"
# train NPROC MODEL ARGS...: lr 1e-2 on the Debian GPL-3 text so every step moves the weights.
train() {
  np=$1; m=$2; shift 2
  "$P" launch --nproc-per-node "$np" -- "$P" train --model "$m" --lr 1e-2 \
    --checkpoint-block-bytes 4KiB "$@"
}
first_step() { sed -n 's/.*"first_step": \([0-9]*\).*/\1/p' "$1"; }
no_steps() { ! grep -q "step [0-9]*/[0-9]" "$1"; }

# The uninterrupted reference (also the source checkpoints).
reference() {
  train 4 "$GPT" --strategy "$T/plan-A.json" --steps 8 --save-dir "$T/ref" --save-every 4 \
    --keep 0 --metrics "$T/ref.json" >"$T/ref.out" 2>&1; rc=$?
  check "reference run (plan A, 4 ranks, 8 steps, save every 4)" '[ $rc -eq 0 ]' || cat "$T/ref.out"
  check "reference wrote step-4 and step-8" \
    '[ -f "$T/ref/step-00000004/manifest.json" ] && [ -f "$T/ref/step-00000008/manifest.json" ]'
}

# resume_check NAME NPROC MODEL PLAN CKPT REF RTOL
resume_check() {
  name=$1; np=$2; m=$3; plan=$4; ck=$5; ref=$6; rtol=$7
  train "$np" "$m" --strategy "$plan" --steps 8 --resume "$ck" --metrics "$T/$name.json" \
    >"$T/$name.out" 2>&1
  rc=$?
  [ $rc -eq 0 ] || cat "$T/$name.out"
  grep "paratune train: \(resuming\|loaded\)" "$T/$name.out"
  "$TOOL" --compare "$ref" "$T/$name.json" --from "$(first_step "$T/$name.json")" --rtol "$rtol" \
    >"$T/$name.cmp" 2>&1
  crc=$?
  cat "$T/$name.cmp"
  check "$name: resumed run exits 0 and its losses match (rtol $rtol)" '[ $rc -eq 0 ] && [ $crc -eq 0 ]'
}

if [ "$PART" = resume ]; then
  reference
  C4="$T/ref/step-00000004"
  resume_check same-plan-A 4 "$GPT" "$T/plan-A.json" "$C4" "$T/ref.json" 0
  check "same plan: RNG state restored" 'grep -q "RNG state restored" "$T/same-plan-A.out"'
  resume_check plan-B-pp1 4 "$GPT" "$T/plan-B.json" "$C4" "$T/ref.json" 1e-5
  check "plan B: re-sharded on load" 'grep -q "re-sharding on load" "$T/plan-B-pp1.out"'
  resume_check plan-C-pp4 4 "$GPT" "$T/plan-C.json" "$C4" "$T/ref.json" 1e-5
  # Streaming: under pp4, rank 0 holds the embedding and layer 0 only, so it reads a small
  # part of the checkpoint (block granularity included), not the whole model.
  all=$(cat "$C4"/*.bin | wc -c)
  r0=$(sed -n 's/.*rank 0 read \([0-9]*\) bytes.*/\1/p' "$T/plan-C-pp4.out")
  echo "plan C: rank 0 read ${r0:-?} of $all checkpoint bytes"
  check "plan C: rank 0 reads less than a quarter of the checkpoint" \
    '[ -n "$r0" ] && [ $((r0 * 4)) -lt "$all" ]'
  resume_check plan-D-2ranks 2 "$GPT" "$T/plan-D.json" "$C4" "$T/ref.json" 1e-5
  resume_check plan-E-8ranks 8 "$GPT" "$T/plan-E.json" "$C4" "$T/ref.json" 1e-5
  resume_check plan-S-1rank 1 "$GPT" "$T/plan-S.json" "$C4" "$T/ref.json" 1e-5
  # The save dir itself resolves to its latest complete checkpoint (step 8: nothing to run).
  train 4 "$GPT" --strategy "$T/plan-A.json" --steps 8 --resume "$T/ref" >"$T/latest.out" 2>&1
  check "--resume DIR picks the latest complete checkpoint" \
    'grep -q "resuming from $T/ref/step-00000008" "$T/latest.out" && no_steps "$T/latest.out"'
  # tiny-llama (GQA, untied head, RMSNorm, SwiGLU, RoPE): A -> B.
  LL="$T/tiny-llama.json"
  train 4 "$LL" --strategy "$T/plan-A.json" --steps 6 --save-dir "$T/llama" --save-every 3 \
    --metrics "$T/llama-ref.json" >"$T/llama-ref.out" 2>&1; rc=$?
  check "llama reference run" '[ $rc -eq 0 ]' || cat "$T/llama-ref.out"
  train 4 "$LL" --strategy "$T/plan-B.json" --steps 6 --resume "$T/llama/step-00000003" \
    --metrics "$T/llama-B.json" >"$T/llama-B.out" 2>&1
  rc=$?
  "$TOOL" --compare "$T/llama-ref.json" "$T/llama-B.json" --from 4 --rtol 1e-5; crc=$?
  check "llama: resumed under plan B, losses match (rtol 1e-5)" '[ $rc -eq 0 ] && [ $crc -eq 0 ]'
  "$P" checkpoint inspect "$C4" --verify --tensors >"$T/inspect.out" 2>&1; rc=$?
  cat "$T/inspect.out"
  check "inspect: exits 0" '[ $rc -eq 0 ]'
  check "inspect: names step, world size and plan" \
    'grep -q "step         4" "$T/inspect.out" && grep -q "written by   4 ranks: pp 2" "$T/inspect.out"'
  check "inspect: every parameter stored exactly once" 'grep -q "each element stored exactly once" "$T/inspect.out"'
  check "inspect --verify: all CRCs match" 'grep -q "every CRC-32 matches" "$T/inspect.out"'
fi

if [ "$PART" = crash ]; then
  train 4 "$GPT" --strategy "$T/plan-A.json" --steps 8 --metrics "$T/ref.json" >"$T/ref.out" 2>&1
  rc=$?
  check "reference run (no checkpoints)" '[ $rc -eq 0 ]' || cat "$T/ref.out"

  # 1. kill -9 rank 2 in the middle of training (a run that would go on for long).
  "$P" launch --nproc-per-node 4 -- "$P" train --model "$GPT" --lr 1e-2 \
    --checkpoint-block-bytes 4KiB --strategy "$T/plan-A.json" --steps 1000000 \
    --save-dir "$T/k" --save-every 2 >"$T/k.out" 2>"$T/k.err" &
  BG=$!
  i=0
  while ! grep -q "step 5/" "$T/k.out"; do
    i=$((i + 1)); [ $i -gt 1200 ] && break; sleep 0.1
  done
  VICTIM=""
  for k in $(pgrep -P "$BG"); do
    r=$(tr '\0' '\n' < /proc/$k/environ 2>/dev/null | sed -n 's/^RANK=//p')
    [ "$r" = 2 ] && VICTIM=$k
  done
  check "found rank 2 mid-training" '[ -n "$VICTIM" ]' || kill "$BG"
  [ -n "$VICTIM" ] && kill -9 "$VICTIM"
  wait "$BG"; rc=$?; BG=""
  check "killed run exits non-zero" '[ $rc -ne 0 ]'
  tail -3 "$T/k.out"
  train 4 "$GPT" --strategy "$T/plan-A.json" --steps 8 --resume "$T/k" --save-dir "$T/k" \
    --save-every 2 --metrics "$T/k.json" >"$T/k2.out" 2>&1; rc=$?
  grep "paratune train: \(skipping\|resuming\)" "$T/k2.out"
  fs=$(first_step "$T/k.json")
  check "resumed after the kill at step $fs (4 < step <= 8)" '[ $rc -eq 0 ] && [ "$fs" -gt 4 ] && [ "$fs" -le 8 ]'
  "$TOOL" --compare "$T/ref.json" "$T/k.json" --from "$fs" --rtol 0; crc=$?
  check "kill mid-training: resumed losses equal the uninterrupted run bit for bit" '[ $crc -eq 0 ]'

  # 2./3. SIGKILL in the middle of a save: rank 1 half-way through its shard, rank 0 before the
  # manifest's rename.
  for fault in 6:1:shard 6:0:manifest; do
    D="$T/s-${fault##*:}"
    train 4 "$GPT" --strategy "$T/plan-A.json" --steps 8 --save-dir "$D" --save-every 2 \
      --fault-kill-in-save "$fault" >"$T/f.out" 2>"$T/f.err"; rc=$?
    r=$(echo "$fault" | cut -d: -f2)
    check "$fault: run dies (rank $r killed by signal 9)" \
      '[ $rc -ne 0 ] && grep -q "rank $r .*killed by signal 9" "$T/f.err"'
    check "$fault: the interrupted save has no manifest" \
      '[ -d "$D/step-00000006" ] && [ ! -f "$D/step-00000006/manifest.json" ]'
    if [ "${fault##*:}" = shard ]; then
      check "$fault: rank 1's shard exists only as a partial temporary" \
        '[ -f "$D/step-00000006/rank-00001.bin.tmp" ] && [ ! -f "$D/step-00000006/rank-00001.bin" ]'
    else
      check "$fault: all shards and the manifest temporary were written" \
        '[ -f "$D/step-00000006/manifest.json.tmp" ] && [ -f "$D/step-00000006/rank-00003.json" ]'
    fi
    "$P" checkpoint inspect "$D" >"$T/i.out" 2>&1
    check "$fault: inspect skips it and shows step 4" \
      'grep -q "skipped.*step-00000006" "$T/i.out" && grep -q "step         4" "$T/i.out"'
    train 4 "$GPT" --strategy "$T/plan-A.json" --steps 8 --resume "$D" --save-dir "$D" --keep 0 \
      --save-every 2 --metrics "$T/f.json" >"$T/f2.out" 2>&1; rc=$?
    grep "paratune train: \(skipping\|resuming\)" "$T/f2.out"
    "$TOOL" --compare "$T/ref.json" "$T/f.json" --from 5 --rtol 0; crc=$?
    check "$fault: resumed from step 4, losses equal the uninterrupted run bit for bit" \
      '[ $rc -eq 0 ] && [ $crc -eq 0 ]'
    "$P" checkpoint inspect "$D/step-00000006" --verify >"$T/i6.out" 2>&1; rc=$?
    check "$fault: the re-done save of step 6 is complete and verifies" '[ $rc -eq 0 ]'
  done
fi

if [ "$PART" = bad ]; then
  train 2 "$GPT" --strategy "$T/plan-D.json" --steps 2 --save-dir "$T/good" >"$T/g.out" 2>&1
  rc=$?
  check "writes a 2-rank checkpoint" '[ $rc -eq 0 ]' || cat "$T/g.out"
  G="$T/good/step-00000002"
  # bad_case NAME DIR EXPECTED_REGEX [MODEL]: a 1-rank resume must fail before any step.
  bad_case() {
    "$P" train --model "${4:-$GPT}" --strategy "$T/plan-S.json" --steps 4 --resume "$2" \
      >"$T/b.out" 2>&1; rc=$?
    grep "paratune train" "$T/b.out" | tail -1
    pat=$3
    check "$1: error before training, naming $3" \
      '[ $rc -ne 0 ] && no_steps "$T/b.out" && grep -q "$pat" "$T/b.out"'
  }
  mk() { rm -rf "$T/$1"; cp -r "$G" "$T/$1"; }
  mk trunc; truncate -s -100 "$T/trunc/rank-00001.bin"
  bad_case "truncated shard" "$T/trunc" 'rank-00001.bin: file is .* field "data_bytes"'
  mk corrupt; printf '\377' | dd of="$T/corrupt/rank-00001.bin" bs=1 seek=5000 conv=notrunc 2>/dev/null
  bad_case "corrupt shard byte" "$T/corrupt" 'rank-00001.bin: block 1 .*checksum mismatch'
  "$P" checkpoint inspect "$T/corrupt" --verify >"$T/iv.out" 2>&1; rc=$?
  check "inspect --verify finds the corrupt block" '[ $rc -ne 0 ] && grep -q "rank-00001.bin: block 1" "$T/iv.out"'
  mk badindex; sed -i 's/"rank": 0/"rank": 1/' "$T/badindex/rank-00000.json"
  bad_case "edited shard index" "$T/badindex" 'rank-00000.json: checksum mismatch.*index_crc32'
  mk truncman; head -c 300 "$G/manifest.json" >"$T/truncman/manifest.json"
  bad_case "truncated manifest" "$T/truncman" 'manifest.json:[0-9]*:[0-9]*: malformed JSON'
  mk foreign; cp "$T/plan-A.json" "$T/foreign/manifest.json"
  bad_case "foreign manifest" "$T/foreign" 'manifest.json: field "format": missing (not a paratune checkpoint file'
  bad_case "other model config" "$G" 'field "model.hidden": the checkpoint was written for 32' "$T/tiny-llama.json"
  mkdir -p "$T/empty"
  bad_case "no checkpoint" "$T/empty" 'no complete checkpoint'
  mk missing; rm "$T/missing/rank-00000.bin"
  bad_case "missing shard file" "$T/missing" 'rank-00000.bin: cannot read'
fi
[ $fail -eq 0 ] && echo "PASS"
exit $fail
