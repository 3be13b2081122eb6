#!/bin/sh
# Do two runs of profile-model agree? Profiles MODEL twice, back to back, on N local ranks at
# once and prints every time of the two side by side with their difference, then the verdict
# (`paratune profile-model --compare`): how many of the times are within TOL percent, the median
# and max difference. Activation bytes are compared too. With -r the second run is made with
# `--speed-reference run1.json`: put on the first run's machine speed by its speed probe.
#
# usage: bench/profiler/profile_agreement.sh [-p PARATUNE] [-n RANKS] [-t TOL] [-o DIR] [-r] \
#            MODEL.json [profile-model flags, e.g. --micro-batches 1,2 --tp 1,2,4]
# defaults: PARATUNE build/apps/paratune, RANKS 4, TOL 10, DIR a new temporary folder (kept).
# Exit 0 when every time agrees within TOL, 1 when not, 2 on bad use.
set -u
P=build/apps/paratune; N=4; TOL=10; OUT=; REF=0
while getopts p:n:t:o:r f; do
  case $f in
    p) P=$OPTARG ;; n) N=$OPTARG ;; t) TOL=$OPTARG ;; o) OUT=$OPTARG ;; r) REF=1 ;;
    *) echo "usage: $0 [-p PARATUNE] [-n RANKS] [-t TOL] [-o DIR] [-r] MODEL.json [flags]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "$0: MODEL.json needed" >&2; exit 2; }
MODEL=$1; shift
[ -f "$MODEL" ] || { echo "$0: $MODEL: no such file" >&2; exit 2; }
[ -x "$P" ] || { echo "$0: $P is not an executable paratune (-p)" >&2; exit 2; }
[ -n "$OUT" ] || OUT=$(mktemp -d)
mkdir -p "$OUT" || exit 2
for run in 1 2; do
  # run 2 is the last: its flags may take the reference on
  if [ "$run" = 2 ] && [ "$REF" = 1 ]; then set -- "$@" --speed-reference "$OUT/run1.json"; fi
  echo "profile_agreement: run $run of 2 ($N ranks, $MODEL $*)"
  start=$(date +%s)
  "$P" launch --nproc-per-node "$N" -- "$P" profile-model --model "$MODEL" -o "$OUT/run$run.json" \
    "$@" >"$OUT/run$run.log" 2>&1 || { tail -n 20 "$OUT/run$run.log"; echo "$0: run $run failed" >&2; exit 2; }
  echo "profile_agreement: run $run done in $(( $(date +%s) - start )) s"
done
"$P" profile-model --compare "$OUT/run1.json" "$OUT/run2.json" --tolerance "$TOL" >"$OUT/compare.txt"
rc=$?
cat "$OUT/compare.txt"
echo "profile_agreement: profiles, logs and the comparison are in $OUT"
exit $rc
