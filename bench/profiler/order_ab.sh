#!/bin/sh
# Does shuffling the points' order in each pass make two model-profile runs agree better?
# Makes K runs of profile-model with --order fixed and K with --order shuffled, interleaved
# (fixed, shuffled, shuffled, fixed, ...: the same sitting of the machine for both), each with
# its --passes-csv, then scores every pair within each order with score_pairs.py (points of
# 116 within TOL percent: plain, with the speed probe, and with the best single factor).
#
# usage: bench/profiler/order_ab.sh [-p PARATUNE] [-n RANKS] [-k RUNS] [-t TOL] [-o DIR] \
#            MODEL.json [profile-model flags, e.g. --micro-batches 1,2,4,8]
# defaults: PARATUNE build/apps/paratune, RANKS 4, RUNS 4 per order, TOL 10, DIR a new
# temporary folder (kept). Exit 0 when all runs were made, 2 on bad use or a failed run.
set -u
P=build/apps/paratune; N=4; K=4; TOL=10; OUT=
while getopts p:n:k:t:o: f; do
  case $f in
    p) P=$OPTARG ;; n) N=$OPTARG ;; k) K=$OPTARG ;; t) TOL=$OPTARG ;; o) OUT=$OPTARG ;;
    *) echo "usage: $0 [-p PARATUNE] [-n RANKS] [-k RUNS] [-t TOL] [-o DIR] MODEL.json [flags]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "$0: MODEL.json needed" >&2; exit 2; }
MODEL=$1; shift
[ -f "$MODEL" ] || { echo "$0: $MODEL: no such file" >&2; exit 2; }
[ -x "$P" ] || { echo "$0: $P is not an executable paratune (-p)" >&2; exit 2; }
[ "$K" -ge 2 ] 2>/dev/null || { echo "$0: -k must be at least 2" >&2; exit 2; }
[ -n "$OUT" ] || OUT=$(mktemp -d)
mkdir -p "$OUT" || exit 2
HERE=$(dirname "$0")
i=1
while [ "$i" -le "$K" ]; do
  # alternate which order goes first, so neither always follows the other
  if [ $((i % 2)) = 1 ]; then orders="fixed shuffled"; else orders="shuffled fixed"; fi
  for order in $orders; do
    f="$OUT/$order-run$i"
    echo "order_ab: run $i of $K, --order $order ($N ranks, $MODEL $*)"
    start=$(date +%s)
    "$P" launch --nproc-per-node "$N" -- "$P" profile-model --model "$MODEL" -o "$f.json" \
      --order "$order" --passes-csv "$f.csv" "$@" >"$f.log" 2>&1 \
      || { tail -n 20 "$f.log"; echo "$0: run $f failed" >&2; exit 2; }
    echo "order_ab: done in $(( $(date +%s) - start )) s"
  done
  i=$((i + 1))
done
for order in fixed shuffled; do
  echo "== --order $order: every pair of the $K runs"
  python3 "$HERE/score_pairs.py" --tolerance "$TOL" "$OUT/$order"-run*.json | tee "$OUT/score-$order.txt"
done
echo "order_ab: profiles, pass tables, logs and scores are in $OUT"
