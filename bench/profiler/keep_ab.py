#!/usr/bin/env python3
"""Which value of a point's passes should a model profile keep? Scored on runs' pass tables.

usage: bench/profiler/keep_ab.py [--tolerance PCT] [--first N] RUN.csv RUN.csv ...

Each RUN.csv is one profile-model run's --passes-csv (every pass's value of every point; the
last row is the speed probe). For each way of keeping a point's value from its passes
  min     the smallest pass
  mean2   the mean of the two smallest (profile-model's default, --keep two-smallest)
  lq      the lower quartile (with 5 passes the second smallest; the default before round 20)
  median  the median
it keeps every point and the probe of every run that way and scores every pair of runs (A, B),
in the order given: how many points agree within PCT (default 10) as kept ("plain") and with
B divided by its probe's ratio to A's ("probe", what `--speed-reference A` does); where the
tables have them (experiments of round 21), also with each unit's points divided by its own
unit probe's ratio and the rest by the speed probe's ("unit probes"); all by the synced
transformer probe ("synced"); each unit by its own synced probe ("synced units"). It prints
each way's counts over all pairs, sorted, and their median. The same passes are kept every
way, so the ways are compared on the same runs of the machine (docs/profilers.md, round 20).
With --first N only each run's first N passes are used: what a run with --passes N (and the
same window per pass) would have kept.
"""
import csv
import itertools
import statistics
import sys

WAYS = {
    "min": lambda v: min(v),
    "mean2": lambda v: sum(sorted(v)[:2]) / min(2, len(v)),
    "lq": lambda v: sorted(v)[(len(v) - 1) // 4],
    "median": lambda v: statistics.median(v),
}


def passes(path, first):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][0] != "point" or rows[0][-1] != "kept" or len(rows[0]) < 3:
        sys.exit(f"{path}: not a profile-model --passes-csv (header 'point,pass 1,...,kept')")
    out = {}
    for row in rows[1:]:
        try:
            out[row[0]] = [float(x) for x in row[1:-1]][:first]
        except ValueError:
            sys.exit(f"{path}: row '{row[0]}': a value is not a number")
    probe = [k for k in out if k.startswith("speed probe")]
    if len(probe) != 1:
        sys.exit(f"{path}: no speed probe row (a table made before round 19?)")
    return out, probe[0]


def probe_of(row, probes, fallback):
    """The probe row among `probes` ("... probe: UNIT tp 1 ...") of point `row`'s unit, else
    `fallback` (None: no probe of that kind for this point)."""
    for name in probes:
        unit = name.split(": ", 1)[1].split(" ", 1)[0]
        if row.startswith(unit + " "):
            return name
    return fallback


def main(argv):
    tol, first = 10.0, None
    while len(argv) > 1 and argv[0] in ("--tolerance", "--first"):
        if argv[0] == "--tolerance":
            tol = float(argv[1])
        else:
            first = int(argv[1])
            if first < 1:
                sys.exit("--first must be at least 1")
        argv = argv[2:]
    if len(argv) < 2:
        sys.exit(__doc__)
    runs = [passes(p, first) for p in argv]

    def rows_like(prefix):
        return sorted(set.intersection(*[{k for k in a if k.startswith(prefix)} for a, _ in runs]))

    units, synced = rows_like("unit probe"), rows_like("synced probe")
    synced_layer = [k for k in synced if k.startswith("synced probe: transformer ")]
    # Each scoring: point row, speed probe row -> the probe row its second run is divided by.
    scorings = {"plain": None, "probe": lambda k, pa: pa}
    if units:
        scorings["unit probes"] = lambda k, pa: probe_of(k, units, pa)
    if synced_layer:
        scorings["synced"] = lambda k, pa: synced_layer[0]
        scorings["synced units"] = lambda k, pa: probe_of(k, synced, synced_layer[0])
    for way, keep in WAYS.items():
        counts = {name: [] for name in scorings}
        for (a, pa), (b, pb) in itertools.combinations(runs, 2):
            ka = {k: keep(v) for k, v in a.items()}
            kb = {k: keep(v) for k, v in b.items()}
            common = [k for k in ka if k in kb and "probe" not in k.split(" tp ")[0]]
            for name, by in scorings.items():
                q = (lambda k: 1.0) if by is None else (lambda k: kb[by(k, pa)] / ka[by(k, pa)])
                counts[name].append(sum(abs(kb[k] / q(k) / ka[k] - 1) <= tol / 100 for k in common))
        n = len(common)
        print(f"{way:7s} " + "   ".join(f"{name} median {statistics.median(c):5.1f} {sorted(c)}"
                                       for name, c in counts.items()) + f"   of {n}")


if __name__ == "__main__":
    main(sys.argv[1:])
