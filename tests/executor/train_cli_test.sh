#!/bin/sh
# `paratune train` end to end in one process (world of one) and rejection of bad input:
# metrics JSON, the default Debian corpus, --memory-per-device OOM, world-size mismatch; and on 4
# local ranks the per-rank communication waits in the metrics and the --trace timeline.
# usage: train_cli_test.sh PARATUNE PARITY_DRIVER
set -u
P=$1; D=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$D" --emit "$T" || exit 1
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

"$P" train --strategy "$T/single.json" --model "$T/tiny-gpt.json" --steps 3 \
  --metrics "$T/m.json" >"$T/out1" 2>"$T/err1"; rc=$?
cat "$T/out1" "$T/err1"
check "train exits 0" '[ $rc -eq 0 ]'
check "progress line per step" '[ $(grep -c "ms/iter" "$T/out1") -eq 3 ]'
check "default corpus is the Debian GPL-3 text" 'grep -q "common-licenses/GPL-3" "$T/out1"'
check "metrics has 3 steps and peak memory" \
  '[ $(grep -c "\"loss\"" "$T/m.json") -eq 3 ] && grep -q peak_memory_bytes "$T/m.json"'

"$P" train --strategy "$T/single.json" --model "$T/tiny-llama.json" --steps 2 \
  --memory-per-device 1MiB >"$T/out2" 2>"$T/err2"; rc=$?
cat "$T/err2"
check "memory limit fails with code 3" '[ $rc -eq 3 ]'
check "memory limit message" 'grep -q "out of memory" "$T/err2"'

"$P" train --strategy "$T/pp2-tp2.json" --model "$T/tiny-gpt.json" --steps 1 >"$T/out3" 2>"$T/err3"; rc=$?
cat "$T/err3"
check "world-size mismatch rejected" '[ $rc -ne 0 ] && grep -q "WORLD_SIZE" "$T/err3"'

"$P" train --strategy "$T/single.json" --model "$T/tiny-gpt.json" --data /nonexistent/x \
  >"$T/out4" 2>"$T/err4"; rc=$?
check "missing data file named" '[ $rc -ne 0 ] && grep -q "/nonexistent/x" "$T/err4"'
# Communication waits per rank (4 ranks, pp 2 x tp 2, 2 micro-batches): over the 2 steps after
# the first, stage 1 receives 2 activations per step and stage 0 2 gradients, and every rank
# allreduces in its TP pair.
"$P" launch --nproc-per-node 4 -- "$P" train --strategy "$T/pp2-tp2.json" --model "$T/tiny-gpt.json" \
  --steps 3 --metrics "$T/m4.json" >"$T/out5" 2>"$T/err5"; rc=$?
cat "$T/err5"
one_line=$(tr -d ' \n' < "$T/m4.json")
check "4-rank train exits 0" '[ $rc -eq 0 ]'
check "waits counted over the steps after the first" 'echo "$one_line" | grep -q "\"comm_wait_steps\":2,"'
check "pipeline receives: 2 per step per direction" \
  '[ $(echo "$one_line" | grep -o "\"kind\":\"pipeline_recv_[a-z]*\",\"group_size\":0,\"ms_per_step\":[0-9.e+-]*,\"calls_per_step\":2.0" | wc -l) -eq 4 ]'
check "TP allreduce over 2 ranks on every rank, no allgather counted" \
  '[ $(echo "$one_line" | grep -o "\"kind\":\"allreduce\",\"group_size\":2," | wc -l) -eq 4 ] && ! echo "$one_line" | grep -q allgather'
# The trace of the same run (4 steps, the first 3 traced): every rank's forwards and backwards
# per micro-batch and traced step, stage 1's forward receives and stage 0's backward receives,
# one summary row per rank; a trace into a missing folder is refused before training.
"$P" launch --nproc-per-node 4 -- "$P" train --strategy "$T/pp2-tp2.json" --model "$T/tiny-gpt.json" \
  --steps 4 --trace-steps 3 --trace "$T/trace.json" >"$T/out10" 2>"$T/err10"; rc=$?
cat "$T/err10"
count() { grep -c "\"name\": \"$1\"" "$T/trace.json"; }
check "traced train exits 0" '[ $rc -eq 0 ] && [ -s "$T/trace.json" ]'
check "trace: 4 ranks x 3 traced steps x 2 micro-batches of forward and of backward" \
  '[ $(count forward) -eq 24 ] && [ $(count backward) -eq 24 ] && [ $(count step) -eq 12 ]'
check "trace: stage 1 waits for 2 activations, stage 0 for 2 gradients, per rank and step" \
  '[ $(count "wait recv forward") -eq 12 ] && [ $(count "wait recv backward") -eq 12 ]'
check "trace: a row per rank (named with its CPU where it is bound to one)" \
  '[ $(grep -cE "\"name\": \"rank [0-3]( \(cpu [0-9]+\))?\"" "$T/trace.json") -eq 4 ]'
check "trace summary: one row per rank" \
  '[ $(sed -n "/trace summary/,\$p" "$T/out10" | grep -cE "^\[rank 0\] +[0-3] +[0-9.]+ ") -eq 4 ]'
"$P" train --strategy "$T/single.json" --model "$T/tiny-gpt.json" --steps 1 \
  --trace "$T/nowhere/t.json" >"$T/out11" 2>"$T/err11"; rc=$?
check "trace into a missing folder refused before training" \
  '[ $rc -ne 0 ] && grep -q "nowhere" "$T/err11" && ! grep -q "ms/iter" "$T/out11"'
# DDP's gradient buckets replace the units' own gradient buffers: the two never exist at once.
# With every layer checkpointed and 1 sample per rank, the step's transients are far below all
# gradients (a quarter of the DDP states); allocating the bucket next to the units' buffers put
# the peak at states + all gradients.
awk '/"layers"/{l=1} l{sub(/"checkpoint": *false/,"\"checkpoint\": true")} {sub(/"global_batch": *16/,"\"global_batch\": 4")} {print}' \
  "$T/ddp-4.json" > "$T/ddp-4-ckpt.json"
"$P" launch --nproc-per-node 4 -- "$P" train --strategy "$T/ddp-4-ckpt.json" \
  --model "$T/tiny-gpt.json" --steps 2 --metrics "$T/m5.json" >"$T/out6" 2>"$T/err6"; rc=$?
cat "$T/err6"
m5=$(tr -d ' \n' < "$T/m5.json")
peak=$(echo "$m5" | sed -n 's/.*"peak_memory_bytes":\[\([0-9]*\).*/\1/p')
state=$(echo "$m5" | sed -n 's/.*"state_bytes":\[\([0-9]*\).*/\1/p')
echo "ddp checkpointed: peak $peak bytes, states $state bytes"
check "ddp train exits 0" '[ $rc -eq 0 ]'
check "ddp peak above the states stays below all gradients" \
  '[ -n "$peak" ] && [ -n "$state" ] && [ $((4 * (peak - state))) -lt "$state" ]'
# CPU binding: the launcher names each rank's CPUs (default spread), none leaves them to the
# scheduler, a bad value is rejected before any rank starts.
"$P" launch --nproc-per-node 2 -- sh -c 'echo "cpus=$PARATUNE_CPUS"' >"$T/out7" 2>"$T/err7"; rc=$?
check "spread binding announced and exported" \
  '[ $rc -eq 0 ] && grep -q "ranks bound to CPUs" "$T/err7" && [ $(grep -c "cpus=[0-9]" "$T/out7") -eq 2 ]'
"$P" launch --nproc-per-node 2 --cpu-bind none -- sh -c 'echo "cpus=$PARATUNE_CPUS"' >"$T/out8" 2>"$T/err8"; rc=$?
check "--cpu-bind none binds nothing" \
  '[ $rc -eq 0 ] && ! grep -q "bound to CPUs" "$T/err8" && [ $(grep -c "cpus=\$" "$T/out8") -eq 2 ]'
"$P" launch --nproc-per-node 2 --cpu-bind cores -- true >"$T/out9" 2>"$T/err9"; rc=$?
check "bad --cpu-bind rejected" '[ $rc -eq 2 ] && grep -q "cpu-bind" "$T/err9"'
exit $fail
