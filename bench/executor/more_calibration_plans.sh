#!/bin/bash
# Would calibrating on more plans help? For every stored 4-rank accuracy row (docs/data/round*/),
# fits the cost model's multipliers on the bench's own runs (bench_calibration_refit, penalty
# 0.001, the robust alpha-beta fit) twice and scores both fits on the same held-out plans:
# once on round 23's 12 calibration plans with three more plans left out altogether (--exclude),
# once on those 12 and the three (--add). The three, one per pairing the 12 lack: TP 2 over
# strided ranks with DDP (across the link on 2 x 2), ZeRO-2 in a 2-stage pipeline, TP 2 in a
# 2-stage pipeline: what `paratune calibrate` trains from round 24 on (docs/accuracy.md, round 24).
# Rows measured from round 24 on were calibrated on all 15; the script scores them the same way.
# Prints one line a row and the means. About 5 minutes on 2 cores.
#
# usage: bench/executor/more_calibration_plans.sh [-b BUILD_DIR]   (default build)
set -u
B=build
if [ "${1:-}" = -b ]; then
  [ $# -ge 2 ] || { echo "usage: $0 [-b BUILD_DIR]" >&2; exit 2; }
  B=$2
fi
R=$B/bench/executor/bench_calibration_refit
[ -x "$R" ] || { echo "$0: $R is not built (cmake --build $B --target bench_calibration_refit)" >&2; exit 2; }
X='pp1-m2 tp2-dp2*'; Y='pp2-m4 tp1-dp2-zero2'; Z='pp2-m4 tp2-dp1'
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
one() {
  local spec=$1 row d r cl a b
  row=${spec%%:*}; d=docs/data/$(dirname "$row"); r=$(basename "$row"); cl=$d/$r.cluster.json
  [ "$spec" != "$row" ] && cl=$d/${spec#*:}.json
  local base=("$R" --cluster "$cl" --model configs/models/gpt-mini.json
              --profile "$d/$r.gpt-mini.profile.json" --rows "$d/$r.accuracy.json"
              --penalties 0.001 --comm-fit robust --placement-fit shared)  # as in round 24
  a=$("${base[@]}" --exclude "$X" --exclude "$Y" --exclude "$Z" 2>&1 | grep "^     0.001" | awk '{print $3, $4, $5}')
  b=$("${base[@]}" --add "$X" --add "$Y" --add "$Z" 2>&1 | grep "^     0.001" | awk '{print $3, $4, $5}')
  if [ -z "$a" ] || [ -z "$b" ]; then echo "$0: $row: no fit line" >&2; return 1; fi
  echo "$r | 12 plans: $a | 15 plans: $b"
}
rc=0
# two halves at once (2 cores)
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
  END { if (n) printf "mean of %d rows: 12 plans %.1f%% / %.1f%% / tau %.3f; 15 plans %.1f%% / %.1f%% / tau %.3f; mean error lower with 15 in %d of %d\n",
                n, am/n, ax/n, at/n, bm/n, bx/n, bt/n, better, n }'
exit $rc
