#!/bin/sh
# Failure test: one rank hangs (SIGSTOP) mid-training; its peers' collectives time out
# (`train --timeout 5`), and `paratune launch` exits non-zero within a bounded time (timeout +
# kill grace + slack = 30 s), naming a failed rank, with no rank process left behind.
# usage: hang_rank_test.sh PARATUNE PARITY_DRIVER
set -u
P=$1; D=$2
T=$(mktemp -d)
L=""
cleanup() { [ -n "$L" ] && kill -9 "$L" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$D" --emit "$T" || { echo "cannot write test inputs"; exit 1; }
"$P" launch --nproc-per-node 4 -- "$P" train --strategy "$T/pp2-tp2.json" \
  --model "$T/tiny-gpt.json" --data synthetic --steps 1000000 --timeout 5 >"$T/out" 2>"$T/err" &
L=$!
i=0
while ! grep -q "step 3/" "$T/out"; do
  i=$((i + 1))
  if [ $i -gt 600 ]; then echo "FAIL: training never reached step 3"; cat "$T/out" "$T/err"; exit 1; fi
  sleep 0.2
done
KIDS=$(pgrep -P "$L")
VICTIM=""
for k in $KIDS; do
  r=$(tr '\0' '\n' < /proc/$k/environ | sed -n 's/^RANK=//p')
  [ "$r" = 1 ] && VICTIM=$k
done
[ -n "$VICTIM" ] || { echo "FAIL: rank 1 not found among children: $KIDS"; exit 1; }
start=$(date +%s)
kill -STOP "$VICTIM"
wait "$L"; rc=$?
L=""
elapsed=$(( $(date +%s) - start ))
echo "launcher exit code $rc after ${elapsed}s"
grep "paratune launch" "$T/err"
fail=0
[ "$rc" -ne 0 ] || { echo "FAIL: launcher exited 0"; fail=1; }
[ "$elapsed" -le 30 ] || { echo "FAIL: took ${elapsed}s (> 30 s)"; fail=1; }
grep -q "paratune launch: rank [0-9]" "$T/err" || { echo "FAIL: no failed rank named"; fail=1; }
grep -Eq "failed|timed out|Timed out" "$T/err" || { echo "FAIL: no collective failure reported"; fail=1; }
sleep 0.5
for k in $KIDS; do
  if kill -0 "$k" 2>/dev/null; then echo "FAIL: rank process $k still alive"; kill -9 "$k"; fail=1; fi
done
[ $fail -eq 0 ] && echo "PASS"
exit $fail
