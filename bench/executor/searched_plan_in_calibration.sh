#!/bin/bash
# Would calibrating on the searched plan's own layout help the other plans? For every stored
# 4-rank accuracy row (docs/data/round*/), fits the cost model's multipliers on the bench's own
# runs of the calibration plans (bench_calibration_refit, penalty 0.001, the robust alpha-beta
# fit) twice and scores both on the same held-out plans: once with the row's searched plan left
# out altogether (--exclude), once with it added to the calibration plans (--add). The searched
# plan ran fewer micro-batches than any uniform plan of the bench in most rows (pp2-m2: 2 samples
# a rank per micro-batch, where every uniform and calibration plan has 1), so this asks whether
# the model's multipliers can take both granularities at once (docs/accuracy.md, round 25).
# Prints one line a row and the means. About 4 minutes on 2 cores. FLAGS go to both fits
# (e.g. --per-granularity: with the searched plan's 2 samples a rank beside the others' 1, the
# fit can tell compute's dependence on the micro-batch size apart; without it, it stays 0).
#
# usage: bench/executor/searched_plan_in_calibration.sh [-b BUILD_DIR] [FLAGS]   (default build)
set -u
B=build
if [ "${1:-}" = -b ]; then
  [ $# -ge 2 ] || { echo "usage: $0 [-b BUILD_DIR] [FLAGS]" >&2; exit 2; }
  B=$2
  shift 2
fi
FLAGS=("$@")
R=$B/bench/executor/bench_calibration_refit
[ -x "$R" ] || { echo "$0: $R is not built (cmake --build $B --target bench_calibration_refit)" >&2; exit 2; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
one() {
  local spec=$1 row d r cl s a b
  row=${spec%%:*}; d=docs/data/$(dirname "$row"); r=$(basename "$row"); cl=$d/$r.cluster.json
  [ "$spec" != "$row" ] && cl=$d/${spec#*:}.json
  s=$(python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
rows = d['rows'] if isinstance(d, dict) and 'rows' in d else d
print([x['plan'] for x in rows if x['plan'].startswith('searched')][0])" "$d/$r.accuracy.json") || return 1
  local base=("$R" --cluster "$cl" --model configs/models/gpt-mini.json
              --profile "$d/$r.gpt-mini.profile.json" --rows "$d/$r.accuracy.json"
              --penalties 0.001 --comm-fit robust --placement-fit shared "${FLAGS[@]}")  # as in round 25
  a=$("${base[@]}" --exclude "$s" 2>&1 | grep "^     0.001" | awk '{print $3, $4, $5}')
  local out
  out=$("${base[@]}" --add "$s" 2>&1 | grep "^     0.001")
  b=$(printf '%s\n' "$out" | awk '{print $3, $4, $5}')
  g=$(printf '%s\n' "$out" | grep -o "granularity [-+][0-9.]*")
  if [ -z "$a" ] || [ -z "$b" ]; then echo "$0: $row: no fit line" >&2; return 1; fi
  echo "$r ($s) | without it: $a | with it: $b${g:+ | $g}"
}
rc=0
{ for s in round12/Q round13/R round15/T:T.cluster-rule round15/U round16/W round18/AA; do
    one "$s" || echo FAIL; done > "$T/1"; } &
{ for s in round21/AC round23/AD round23/AE round23/AF round24/AG round24/AH; do
    [ -e "docs/data/${s%/*}/${s#*/}.accuracy.json" ] || continue
    one "$s" || echo FAIL; done > "$T/2"; } &
wait
cat "$T/1" "$T/2"
grep -q FAIL "$T/1" "$T/2" && rc=1
cat "$T/1" "$T/2" | grep -v FAIL | awk -F'|' '
  { n++; split($2, a, " "); split($3, b, " ");
    am += a[3]; ax += a[4]; at += a[5]; bm += b[3]; bx += b[4]; bt += b[5];
    if (b[3] + 0 < a[3] + 0) better++ }
  END { if (n) printf "mean of %d rows: without it %.1f%% / %.1f%% / tau %.3f; with it %.1f%% / %.1f%% / tau %.3f; mean error lower with it in %d of %d\n",
                n, am/n, ax/n, at/n, bm/n, bx/n, bt/n, better, n }'
exit $rc
