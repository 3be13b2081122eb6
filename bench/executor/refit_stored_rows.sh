#!/bin/sh
# Re-predicts every stored accuracy row (docs/data/round*/) with the current cost model: for each
# row, its cluster and model profiles, its `paratune calibrate` runs refitted at calibrate's
# penalty (`bench_calibration_refit --fit-runs`), and prints the held-out plans' mean and max
# absolute time error and Kendall's tau, one line a row. Takes about 2 minutes. FLAGS go to
# bench_calibration_refit (e.g. --per-placement).
#
# usage: bench/executor/refit_stored_rows.sh [-b BUILD_DIR] [FLAGS]   (default build)
set -u
B=build
if [ "${1:-}" = -b ]; then
  [ $# -ge 2 ] || { echo "usage: $0 [-b BUILD_DIR] [FLAGS]" >&2; exit 2; }
  B=$2
  shift 2
fi
R=$B/bench/executor/bench_calibration_refit
[ -x "$R" ] || { echo "$0: $R is not built (cmake --build $B --target bench_calibration_refit)" >&2; exit 2; }
rc=0
# ROUND/ROW[:CLUSTER]: CLUSTER names another cluster profile of that round (default ROW.cluster).
for spec in round12/Q round12/L2 round13/R round14/L4 round14/L5 round15/T:T.cluster-rule \
            round15/U round15/L6 round16/W; do
  row=${spec%%:*}
  d=docs/data/$(dirname "$row")
  r=$(basename "$row")
  cl=$d/$r.cluster.json
  [ "$spec" != "$row" ] && cl=$d/${spec#*:}.json
  out=$("$R" --cluster "$cl" --model configs/models/gpt-mini.json \
          --profile "$d/$r.gpt-mini.profile.json" --rows "$d/$r.accuracy.json" \
          --penalties 0.001 --fit-runs "$d/$r.calibration.json" "$@" 2>&1)
  line=$(printf '%s\n' "$out" | grep "^fitted on")
  if [ -z "$line" ]; then
    printf '%s\n' "$out" | tail -n 5 >&2
    echo "$0: $row: no refit line" >&2
    rc=1
    continue
  fi
  printf '%-3s (%s): held-out %s\n' "$r" "$(basename "$cl")" \
    "$(printf '%s\n' "$line" | sed 's/.*held-out time //; s/   compute.*//')"
done
exit $rc
