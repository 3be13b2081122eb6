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
        [--group 0,2 --group 1,3]

--group (repeatable) takes the calls of those ranks instead of the whole world: for a plan
whose calls of that kind all run in the same groups in the same order (e.g. tp2-dp2*: every
TP allgather in {0,2} or {1,3}); the figures pool the groups' calls.
It refuses (exit 2) when the ranks of a group made different numbers of such calls in a step,
i.e. when the calls are not all calls of that group.
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
    ap.add_argument("--group", action="append", default=[],
                    help="ranks of one group, comma-separated (repeatable; default: the world)")
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
    try:
        groups = [[int(r) for r in g.split(",")] for g in a.group] or [ranks]
    except ValueError:
        sys.exit(f"trace_arrivals: --group: expected ranks like 0,2, got {a.group}")
    for g in groups:
        missing = [r for r in g if r not in ranks]
        if missing:
            sys.exit(f"trace_arrivals: --group {g}: ranks {missing} made no '{a.kind}' calls")
    waits, comms, gaps = [], [], []
    for g in groups:
        for s in steps:
            per_rank = [sorted(calls[(r, s)], key=lambda e: e["ts"]) for r in g]
            counts = {len(c) for c in per_rank}
            if len(counts) != 1:
                print(f"trace_arrivals: step {s}: the ranks {g} made {sorted(counts)} "
                      f"'{a.kind}' calls; they are not all calls of this group", file=sys.stderr)
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
    where = f"{len(ranks)} ranks" if not a.group else "groups " + " ".join(a.group)
    print(f"{a.trace}: {len(waits)} '{a.kind}' calls over {len(steps)} steps, {where}")
    for name, v in (("compute gap before a call", gaps), ("arrival wait", waits),
                    ("collective after the last arrival", comms)):
        if v:
            print(f"  {name:34s} mean {statistics.mean(v):7.2f} ms   median "
                  f"{statistics.median(v):7.2f} ms")
    if comms and statistics.mean(comms) < 0:
        print("trace_arrivals: warning: calls return before the last rank arrives on average; "
              "the ranks paired here are not the members of one call (see --group)",
              file=sys.stderr)


if __name__ == "__main__":
    main()
