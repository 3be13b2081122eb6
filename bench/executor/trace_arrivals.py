#!/usr/bin/env python3
"""Arrival waits and collective times of a training run, from its `paratune train --trace` file.

For a plan whose collectives of one kind all run over the whole world in the same order on every
rank (e.g. tp = world size: every TP allreduce), the k-th wait of that kind in a step is the same
call on every rank. The ranks of one host share a clock, so per call:

    arrival wait = mean over ranks of (last rank's arrival - this rank's arrival)
    collective   = mean over ranks of (this rank's return - last rank's arrival)
    compute gap  = mean over ranks of (this call's arrival - the previous call's return)

which is what profile-cluster's arrival-wait probe and collective fits price. Usage:

    bench/executor/trace_arrivals.py TRACE.json [--kind "wait allreduce"] [--from-step 2]

It refuses (exit 2) when the ranks made different numbers of such calls in a step, i.e. when
the calls are not all world-wide.
"""
import argparse
import collections
import json
import statistics
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("--kind", default="wait allreduce")
    ap.add_argument("--from-step", type=int, default=2, help="first step counted (0-based)")
    a = ap.parse_args()
    try:
        with open(a.trace) as f:
            events = json.load(f)["traceEvents"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"trace_arrivals: {a.trace}: {e}")
    calls = collections.defaultdict(list)  # (rank, step) -> wait events in time order
    for e in events:
        if e.get("ph") == "X" and e["name"] == a.kind and e["args"]["step"] >= a.from_step:
            calls[(e["tid"], e["args"]["step"])].append(e)
    if not calls:
        sys.exit(f"trace_arrivals: {a.trace}: no '{a.kind}' events from step {a.from_step}")
    ranks = sorted({r for r, _ in calls})
    steps = sorted({s for _, s in calls})
    waits, comms, gaps = [], [], []
    for s in steps:
        per_rank = [sorted(calls[(r, s)], key=lambda e: e["ts"]) for r in ranks]
        counts = {len(c) for c in per_rank}
        if len(counts) != 1:
            print(f"trace_arrivals: step {s}: the ranks made {sorted(counts)} '{a.kind}' calls; "
                  "they are not all world-wide calls", file=sys.stderr)
            sys.exit(2)
        for k in range(counts.pop()):
            arrive = [c[k]["ts"] for c in per_rank]
            back = [c[k]["ts"] + c[k]["dur"] for c in per_rank]
            last = max(arrive)
            waits.append(statistics.mean(last - t for t in arrive) / 1e3)
            comms.append(statistics.mean(t - last for t in back) / 1e3)
            if k > 0:
                gaps.append(statistics.mean(
                    c[k]["ts"] - (c[k - 1]["ts"] + c[k - 1]["dur"]) for c in per_rank) / 1e3)
    print(f"{a.trace}: {len(waits)} '{a.kind}' calls over {len(steps)} steps, {len(ranks)} ranks")
    for name, v in (("compute gap before a call", gaps), ("arrival wait", waits),
                    ("collective after the last arrival", comms)):
        if v:
            print(f"  {name:34s} mean {statistics.mean(v):7.2f} ms   median "
                  f"{statistics.median(v):7.2f} ms")


if __name__ == "__main__":
    main()
