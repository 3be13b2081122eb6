#!/usr/bin/env python3
"""Score every pair of model profiles: how many times agree within a tolerance.

usage: bench/profiler/score_pairs.py [--tolerance PCT] PROFILE.json PROFILE.json ...

For each pair (A, B) of the files, in the order given, it prints how many of the compute and
optimizer times agree within PCT (default 10):
  plain   B's times as measured (a --speed-reference scale is undone: times / speed_probe.scale),
  probe   B divided by its speed probe's ratio to A's (what `--speed-reference A` does),
  overall B divided by B / A at the median point (the best any one factor can do; it needs
          both runs, so no profiler can apply it).
Then the counts of each column over all pairs and their medians. Profiles need `speed_probe`
(paratune profile-model writes it). docs/profilers.md, round 19, has the figures.
"""
import itertools
import json
import statistics
import sys


def times(path):
    with open(path) as f:
        j = json.load(f)
    if "speed_probe" not in j:
        sys.exit(f"{path}: field \"speed_probe\" missing (profile made before round 19?)")
    probe = j["speed_probe"]
    scale = probe["scale"]
    out = {}
    for layer in j["layer_types"]:
        for c in layer["compute"]:
            for k in ("forward_ms", "backward_ms", "forward_no_grad_ms"):
                if k in c:
                    out[(layer["name"], c["tp"], c["micro_batch"], k)] = c[k] / scale
    for o in j.get("optimizer_step", []):
        out[("optimizer_step", o["params"])] = o["ms"] / scale
    return out, probe["measured_ms"]


def main(argv):
    tol = 10.0
    if len(argv) > 1 and argv[0] == "--tolerance":
        tol = float(argv[1])
        argv = argv[2:]
    if len(argv) < 2:
        sys.exit(__doc__)
    runs = [times(p) for p in argv]
    within = lambda ratios: sum(abs(r - 1) <= tol / 100 for r in ratios)
    cols = {"plain": [], "probe": [], "overall": []}
    for i, k in itertools.combinations(range(len(runs)), 2):
        (a, pa), (b, pb) = runs[i], runs[k]
        common = [key for key in a if key in b]
        r = [b[key] / a[key] for key in common]
        q, m = pb / pa, statistics.median(r)
        row = {"plain": within(r), "probe": within(x / q for x in r),
               "overall": within(x / m for x in r)}
        for c, v in row.items():
            cols[c].append(v)
        print(f"{argv[i]} / {argv[k]}: plain {row['plain']}, probe {row['probe']} (x{q:.3f}), "
              f"overall {row['overall']} (x{m:.3f}) of {len(common)}")
    for c, v in cols.items():
        print(f"{c:8s} {sorted(v)} median {statistics.median(v)}")


if __name__ == "__main__":
    main(sys.argv[1:])
