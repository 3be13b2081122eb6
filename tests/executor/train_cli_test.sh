#!/bin/sh
# `paratune train` end to end in one process (world of one) and rejection of bad input:
# metrics JSON, the default Debian corpus, --memory-per-device OOM, world-size mismatch.
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
exit $fail
