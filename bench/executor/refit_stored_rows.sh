#!/bin/sh
# Re-predicts every stored accuracy row (docs/data/round*/) with the current cost model: for each
# row, its cluster and model profiles, its `paratune calibrate` runs refitted at calibrate's
# penalty (`bench_calibration_refit --fit-runs`), and prints the held-out plans' mean and max
# absolute time error and Kendall's tau, one line a row, then how well the plan that fit predicts
# fastest measured ("pick": its slowdown against the measured fastest), and how far that fit
# and the fit on the bench's own runs of the same calibration plans disagree over all plans
# ("fits agree": spread of the log ratio once the overall ratio is out, and tau between the two
# rankings; with ROW.calibration-again-*.json beside it, the worst pair of all those fits).
# Takes about 7 minutes. FLAGS go to bench_calibration_refit (e.g. --placement-fit shared,
# --collective-groups by-use, --comm-samples). Since round 26 the refit fits collective
# multipliers per placement by default; --placement-fit shared gives the tables of the rounds
# before it.
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
            round15/U round15/L6 round16/W round18/AA round21/AC round23/AD \
            round23/AE round23/AF round24/AG round24/AH round25/AI round26/AJ round26/AK; do
  row=${spec%%:*}
  d=docs/data/$(dirname "$row")
  r=$(basename "$row")
  cl=$d/$r.cluster.json
  [ "$spec" != "$row" ] && cl=$d/${spec#*:}.json
  extra=
  for f in "$d/$r".calibration-again-*.json; do
    [ -e "$f" ] && extra="$extra --fit-runs $f"
  done
  # shellcheck disable=SC2086
  out=$("$R" --cluster "$cl" --model configs/models/gpt-mini.json \
          --profile "$d/$r.gpt-mini.profile.json" --rows "$d/$r.accuracy.json" \
          --penalties 0.001 --fit-runs "$d/$r.calibration.json" $extra "$@" 2>&1)
  line=$(printf '%s\n' "$out" | grep "^fitted on" | head -n 1)
  agree=$(printf '%s\n' "$out" | grep "^fits agree, worst pair" | sed 's/.*worst pair: //')
  if [ -z "$line" ]; then
    printf '%s\n' "$out" | tail -n 5 >&2
    echo "$0: $row: no refit line" >&2
    rc=1
    continue
  fi
  printf '%-3s (%s): held-out %s; fits agree: %s\n' "$r" "$(basename "$cl")" \
    "$(printf '%s\n' "$line" | sed 's/.*held-out time //; s/   [a-z]* x.*//')" "$agree"
done > "${TMPDIR:-/tmp}/refit_rows.$$"
cat "${TMPDIR:-/tmp}/refit_rows.$$"
# The mean of every figure over the rows.
awk '{ n++; for (i = 1; i <= NF; i++) { v = $i; gsub(/[%,;]/, "", v);
         if ($(i-1) == "error") m += v; if ($(i-1) == "max" && !seen_max[n]++) x += v;
         if ($(i-1) == "spread") sp += v;
         if ($(i-1) == "tau") { if (seen_tau[n]++) ta += v; else t += v } } }
     END { if (n) printf "mean of %d rows: held-out %.1f%% / %.1f%% / tau %.3f; fits agree: spread %.1f%%, tau %.3f\n", n, m/n, x/n, t/n, sp/n, ta/n }' \
  "${TMPDIR:-/tmp}/refit_rows.$$"
rm -f "${TMPDIR:-/tmp}/refit_rows.$$"
exit $rc
