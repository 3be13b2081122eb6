#!/bin/sh
# `paratune calibrate --refit`: refits the runs stored in a calibration file (row W's, made on
# row W's profiles: docs/data/round16) with other fit options and no training; and its refusals:
# the default placement fit (separate) and deviation; a file made on other profiles, a bad
# --collective-groups or --placement-fit, a missing file (exit 1, a message
# naming the file and field, no output written).
# usage: calibrate_cli_test.sh PARATUNE   (from the repository root)
set -u
P=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
D=docs/data/round16
M=configs/models/gpt-mini.json
W="--cluster $D/W.cluster.json --model $M --profile $D/W.gpt-mini.profile.json"

# shellcheck disable=SC2086
"$P" calibrate $W --refit $D/W.calibration-again-1.json --collective-groups by-use \
  --placement-fit shared -o "$T/by-use.json" >"$T/out1" 2>&1; rc=$?
cat "$T/out1"
check "refit by use exits 0" '[ $rc -eq 0 ]'
check "says it trains nothing" 'grep -q "refitting the 12 runs" "$T/out1"'
check "one multiplier per use" 'grep -q "dp collectives x" "$T/out1" && ! grep -q "dp allreduce/4 x" "$T/out1"'
check "file written, its 12 runs kept" '[ $(grep -o "\"measured_ms\"" "$T/by-use.json" | wc -l) -eq 12 ]'
check "the file says how it was fitted" 'grep -q "\"collective_groups\": *\"by-use\"" "$T/by-use.json" && grep -q "collective multipliers by-use" "$T/out1"'
# The refitted file is a calibration of these profiles: search takes it.
# shellcheck disable=SC2086
"$P" search $W --memory-per-device 12MiB --global-batch 8 --calibration "$T/by-use.json" \
  -o "$T/plan.json" >"$T/out2" 2>&1; rc=$?
check "search takes the refitted calibration" '[ $rc -eq 0 ] && [ -s "$T/plan.json" ]' || cat "$T/out2"

# The default fit of the same runs: one multiplier per collective and group size again.
# shellcheck disable=SC2086
"$P" calibrate $W --refit "$T/by-use.json" --placement-fit shared -o "$T/by-size.json" \
  >"$T/out3" 2>&1; rc=$?
check "refit of a refit, by size" '[ $rc -eq 0 ] && grep -q "dp allreduce/4 x" "$T/out3"' || cat "$T/out3"

# The default placement fit (separate): recorded in the file; --placement-fit deviation has
# each collective at both placements, and on 2 x 2 no entry inside an island for a group of 4.
# refit_w OUT FLAGS...: row W's runs refitted with FLAGS into $T/OUT.json, output in $T/OUT.log.
refit_w() {
  out=$1; shift
  # shellcheck disable=SC2086
  "$P" calibrate $W --refit $D/W.calibration.json "$@" -o "$T/$out.json" >"$T/$out.log" 2>&1
}
refit_w separate; rc=$?
check "default: per placement" \
  '[ $rc -eq 0 ] && grep -q "by-size, per placement;" "$T/separate.log" && grep -q "\"per_placement\": *true" "$T/separate.json" && ! grep -q "placement_deviation" "$T/separate.json"' || cat "$T/separate.log"
refit_w deviation --placement-fit deviation; rc=$?
check "deviation: recorded" \
  '[ $rc -eq 0 ] && grep -q "per placement as a deviation" "$T/deviation.log" && grep -q "\"placement_deviation\": *true" "$T/deviation.json"' || cat "$T/deviation.log"
check "both placements of tp allreduce/2, none of a group of 4 inside an island" \
  'grep -q "tp allreduce/2 intra x" "$T/deviation.log" && grep -q "tp allreduce/2 inter x" "$T/deviation.log" && ! grep -q "/4 intra x" "$T/deviation.log"' || cat "$T/deviation.log"
refit_w x --placement-fit both; rc=$?
check "bad --placement-fit: exit 1, named" \
  '[ $rc -eq 1 ] && grep -q "placement-fit: .both. is not one of" "$T/x.log" && [ ! -e "$T/x.json" ]' || cat "$T/x.log"

"$P" calibrate --cluster docs/data/round15/U.cluster.json --model $M \
  --profile $D/W.gpt-mini.profile.json --refit $D/W.calibration.json -o "$T/x.json" >"$T/out4" 2>&1; rc=$?
cat "$T/out4"
check "other cluster profile: exit 1" '[ $rc -eq 1 ]'
check "names the file and field" 'grep -q "W.calibration.json: field \"cluster_digest\"" "$T/out4"'
check "nothing written" '[ ! -e "$T/x.json" ] && [ ! -e "$T/x.json.probe" ]'

# shellcheck disable=SC2086
"$P" calibrate $W --refit $D/W.calibration.json --collective-groups per-use -o "$T/x.json" \
  >"$T/out5" 2>&1; rc=$?
cat "$T/out5"
check "bad --collective-groups: exit 1, named" \
  '[ $rc -eq 1 ] && grep -q "collective-groups: .per-use. is not one of" "$T/out5" && [ ! -e "$T/x.json" ]'

# shellcheck disable=SC2086
"$P" calibrate $W --refit "$T/none.json" -o "$T/x.json" >"$T/out6" 2>&1; rc=$?
cat "$T/out6"
check "missing file: exit 1, named" '[ $rc -eq 1 ] && grep -q "none.json" "$T/out6" && [ ! -e "$T/x.json" ]'
exit $fail
