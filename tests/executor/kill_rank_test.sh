#!/bin/sh
# Failure test: SIGKILL one rank mid-training; `paratune launch` must exit non-zero within 30 s,
# name the rank, and leave no rank process behind.
# usage: kill_rank_test.sh PARATUNE PARITY_DRIVER
set -u
P=$1; D=$2
T=$(mktemp -d)
L=""
cleanup() { [ -n "$L" ] && kill -9 "$L" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$D" --emit "$T" || { echo "cannot write test inputs"; exit 1; }
"$P" launch --nproc-per-node 4 -- "$P" train --strategy "$T/pp2-tp2.json" \
  --model "$T/tiny-gpt.json" --data synthetic --steps 1000000 >"$T/out" 2>"$T/err" &
L=$!
i=0
while ! grep -q "step 3/" "$T/out"; do
  i=$((i + 1))
  if [ $i -gt 600 ]; then echo "FAIL: training never reached step 3"; cat "$T/out" "$T/err"; exit 1; fi
  sleep 0.2
done
KIDS=$(pgrep -P "$L")
VICTIM=""; VRANK=""
for k in $KIDS; do
  r=$(tr '\0' '\n' < /proc/$k/environ | sed -n 's/^RANK=//p')
  if [ "$r" = 2 ]; then VICTIM=$k; VRANK=$r; fi
done
[ -n "$VICTIM" ] || { echo "FAIL: rank 2 not found among children: $KIDS"; exit 1; }
start=$(date +%s)
kill -9 "$VICTIM"
wait "$L"; rc=$?
L=""
elapsed=$(( $(date +%s) - start ))
echo "launcher exit code $rc after ${elapsed}s"
grep "paratune launch" "$T/err"
fail=0
[ "$rc" -ne 0 ] || { echo "FAIL: launcher exited 0"; fail=1; }
[ "$elapsed" -le 30 ] || { echo "FAIL: took ${elapsed}s (> 30 s)"; fail=1; }
grep -q "rank $VRANK .*killed by signal 9" "$T/err" || { echo "FAIL: message does not name rank $VRANK"; fail=1; }
sleep 0.5
for k in $KIDS; do
  if kill -0 "$k" 2>/dev/null; then echo "FAIL: rank process $k still alive"; fail=1; fi
done
[ $fail -eq 0 ] && echo "PASS"
exit $fail
