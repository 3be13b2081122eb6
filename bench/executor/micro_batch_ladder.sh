#!/bin/bash
# Does halving the micro-batches save what the cost model says? Trains two layouts of gpt-mini on
# 4 ranks at two micro-batch counts each (docs/data/round25/*.strategy.json: pp2 tp1-dp2 at 2
# and 4 micro-batches, pp1 tp1-dp4 at 1 and 2; global batch 8, so 2 and 1 samples per rank per
# micro-batch), interleaved, --repeats times, with `paratune train --trace`. Prints per plan the
# median of the runs' median step times, the model's prediction from a stored row's profiles
# (uncalibrated and with that row's calibration), then for each layout the ratio of the fewer
# micro-batches' time to the more's, measured and predicted, and per run the traces' CPU per
# micro-batch (bench/executor/trace_cpu.py). About 1.5 minutes with 3 repeats.
#
# usage: bench/executor/micro_batch_ladder.sh [-b BUILD_DIR] [--row docs/data/round24/AG]
#            [--repeats 3] [--launch "--nnodes 2 --nproc-per-node 2 --emulate-link 1gbit:200us"]
#            [--keep DIR]
# (--emulate-link needs root; --launch "--nproc-per-node 4" runs without it.)
set -u
B=build
ROW=docs/data/round24/AG
REPEATS=3
LAUNCH="--nnodes 2 --nproc-per-node 2 --emulate-link 1gbit:200us"
KEEP=
while [ $# -gt 0 ]; do
  case $1 in
    -b) B=$2; shift 2 ;;
    --row) ROW=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --launch) LAUNCH=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    *) echo "usage: $0 [-b BUILD_DIR] [--row DIR/ROW] [--repeats N] [--launch FLAGS] [--keep DIR]" >&2
       exit 2 ;;
  esac
done
PT=$B/apps/paratune
[ -x "$PT" ] || { echo "$0: $PT is not built" >&2; exit 2; }
for f in "$ROW.cluster.json" "$ROW.gpt-mini.profile.json" "$ROW.calibration.json"; do
  [ -r "$f" ] || { echo "$0: $f: cannot read (--row names a stored accuracy row)" >&2; exit 2; }
done
case $REPEATS in ''|*[!0-9]*|0) echo "$0: --repeats must be a positive integer" >&2; exit 2 ;; esac
S=docs/data/round25
PLANS="pp2-m2 pp2-m4 pp1-m1 pp1-m2"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if [ -n "$KEEP" ]; then mkdir -p "$KEEP" || exit 2; fi
n=0
total=$((REPEATS * 4))
for rep in $(seq 1 "$REPEATS"); do
  for p in $PLANS; do
    n=$((n + 1))
    echo "[$n/$total] $p, run $rep" >&2
    # shellcheck disable=SC2086
    if ! "$PT" launch $LAUNCH -- "$PT" train --strategy "$S/$p.strategy.json" \
         --model configs/models/gpt-mini.json --data synthetic --steps 15 \
         --metrics "$T/$p-$rep.metrics.json" --trace "$T/$p-$rep.trace.json" > "$T/$p-$rep.log" 2>&1; then
      tail -n 5 "$T/$p-$rep.log" >&2
      echo "$0: $p run $rep failed" >&2
      exit 1
    fi
  done
done
predict() {  # plan, then "" or the calibration flag
  "$PT" estimate --cluster "$ROW.cluster.json" --model configs/models/gpt-mini.json \
    --profile "$ROW.gpt-mini.profile.json" --strategy "$S/$1.strategy.json" ${2:+--calibration "$2"} 2>&1 |
    sed -n 's/.*predicted: iteration \([0-9.]*\) ms.*/\1/p'
}
{
  for p in $PLANS; do
    echo "$p $(predict "$p") $(predict "$p" "$ROW.calibration.json")"
  done
} > "$T/pred"
python3 - "$T" "$REPEATS" "$T/pred" "$ROW" <<'EOF'
import json, statistics, sys
d, reps, pred_file, row = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
pred = {l.split()[0]: (float(l.split()[1]), float(l.split()[2])) for l in open(pred_file)}
meas = {}
print(f"plan      measured ms (runs)              predicted by {row}: uncalibrated, calibrated")
for p in ("pp2-m2", "pp2-m4", "pp1-m1", "pp1-m2"):
    runs = []
    for r in range(1, reps + 1):
        steps = json.load(open(f"{d}/{p}-{r}.metrics.json"))["steps"][2:]
        runs.append(statistics.median(s["ms"] for s in steps))
    meas[p] = statistics.median(runs)
    print(f"{p:8}  {meas[p]:6.1f} ({', '.join(f'{x:.1f}' for x in runs)})".ljust(42)
          + f"{pred[p][0]:7.1f} {pred[p][1]:7.1f}")
for few, more in (("pp2-m2", "pp2-m4"), ("pp1-m1", "pp1-m2")):
    print(f"{few} / {more}: measured {meas[few] / meas[more]:.3f}, predicted "
          f"{pred[few][0] / pred[more][0]:.3f} uncalibrated, {pred[few][1] / pred[more][1]:.3f} calibrated")
EOF
for p in $PLANS; do
  for rep in $(seq 1 "$REPEATS"); do
    python3 bench/executor/trace_cpu.py "$T/$p-$rep.trace.json" | sed "s|^$T/||"
  done
done
[ -n "$KEEP" ] && cp "$T"/*.metrics.json "$KEEP"/
exit 0
