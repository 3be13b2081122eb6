#!/bin/bash
# How much does halving the micro-batches save, by each stored row's model? For each stored
# 2 x 2 row whose searched plan was pp2-m2 tp1-dp2, refits `paratune calibrate`'s runs with the
# bench's run of that searched plan added (`paratune calibrate --refit`), once without the
# granularity exponent (--no-granularity) and once with it, and predicts the plans of
# docs/data/round25 (bench/executor/micro_batch_ladder.sh): the ratio pp2-m2 / pp2-m4 (the
# searched plan's layout, fitted on) and pp1-m1 / pp1-m2 (a layout none of the fits saw at 2
# samples a rank). Compare with the ratios micro_batch_ladder.sh measures
# (docs/data/round25/micro-batch-ladder.txt: 0.783 and 0.787). Also prints the row's own
# calibration's ratios. About 2 minutes; no training.
#
# usage: bench/executor/granularity_refit_rows.sh [-b BUILD_DIR]   (default build)
set -u
B=build
if [ "${1:-}" = -b ]; then
  [ $# -ge 2 ] || { echo "usage: $0 [-b BUILD_DIR]" >&2; exit 2; }
  B=$2
fi
PT=$B/apps/paratune
[ -x "$PT" ] || { echo "$0: $PT is not built" >&2; exit 2; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
M=configs/models/gpt-mini.json
S=docs/data/round25
ratios() {  # row dir, row, calibration file -> "pp2 R pp1 R"
  local d=$1 r=$2 cal=$3 p
  declare -A P
  for p in pp2-m2 pp2-m4 pp1-m1 pp1-m2; do
    P[$p]=$("$PT" estimate --cluster "$d/$r.cluster.json" --model $M \
              --profile "$d/$r.gpt-mini.profile.json" --calibration "$cal" \
              --strategy "$S/$p.strategy.json" 2>/dev/null |
            sed -n 's/.*predicted: iteration \([0-9.]*\) ms.*/\1/p')
    [ -n "${P[$p]}" ] || return 1
  done
  awk -v a="${P[pp2-m2]}" -v b="${P[pp2-m4]}" -v c="${P[pp1-m1]}" -v e="${P[pp1-m2]}" \
    'BEGIN { printf "pp2 %.3f pp1 %.3f", a / b, c / e }'
}
rc=0
for row in round21/AC round23/AD round23/AE round23/AF round24/AG round24/AH; do
  d=docs/data/${row%/*}; r=${row#*/}
  if ! python3 - "$d/$r.calibration.json" "$d/$r.accuracy.json" "$T/$r.runs.json" <<'EOF'
import json, sys
cal, acc, out = sys.argv[1:]
c = json.load(open(cal))
a = json.load(open(acc))
rows = a["rows"] if isinstance(a, dict) and "rows" in a else a
s = [x for x in rows if x["plan"] == "searched pp2-m2 tp1-dp2"]
if not s:
    sys.exit(f"{acc}: no searched pp2-m2 tp1-dp2 row")
s = s[0]
c["runs"].append({"plan": "pp2-m2 tp1-dp2", "strategy": s["strategy"],
                  "measured_ms": s["meas_ms"], "predicted_ms": s["raw_pred_ms"],
                  "calibrated_ms": s["pred_ms"]})
json.dump(c, open(out, "w"))
EOF
  then rc=1; continue; fi
  line="$r | own calibration: $(ratios "$d" "$r" "$d/$r.calibration.json")"
  for g in --no-granularity ""; do
    if ! "$PT" calibrate --cluster "$d/$r.cluster.json" --model $M \
         --profile "$d/$r.gpt-mini.profile.json" --refit "$T/$r.runs.json" $g --placement-fit shared \
         -o "$T/$r.fit$g.json" > "$T/$r.fit$g.log" 2>&1; then
      tail -n 3 "$T/$r.fit$g.log" >&2; rc=1; continue
    fi
    gran=$(grep -o "granularity [-+][0-9.]*" "$T/$r.fit$g.log")
    line="$line | +searched${g:+, $g}: $(ratios "$d" "$r" "$T/$r.fit$g.json")${gran:+ ($gran)}"
  done
  echo "$line"
done
exit $rc
