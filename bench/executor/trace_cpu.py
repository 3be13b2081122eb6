#!/usr/bin/env python3
"""Compute CPU per micro-batch and per CPU of a training run, from its `paratune train --trace` file.

Per rank: the thread CPU time (ms) of one micro-batch's forward and backward, the mean over the
steps from --from-step on. Per CPU (the ranks bound to it, from the trace's thread names
"rank R (cpu C)"): the CPU time per step of its ranks' forwards, backwards and optimizer steps,
the median over those steps, next to the median span of a step over all ranks (first rank's
start to last rank's end). Prints one line per trace. Usage:

    bench/executor/trace_cpu.py TRACE.json [TRACE.json ...] [--from-step 3]

Used in docs/accuracy.md round 25: does a micro-batch of 1 sample cost the executor half of what
a micro-batch of 2 costs, as the model profile's layer points say?
"""
import argparse
import collections
import json
import re
import statistics
import sys


def summarize(path, from_step):
    with open(path) as f:
        events = json.load(f)["traceEvents"]
    cpu_of = {}
    for e in events:
        if e.get("name") == "thread_name":
            m = re.search(r"cpu ([0-9,]+)", e["args"]["name"])
            cpu_of[e["tid"]] = m.group(1) if m else "?"
    per_rank = collections.defaultdict(lambda: {"forward": [], "backward": []})
    steps = collections.defaultdict(list)
    for e in events:
        if e.get("ph") != "X" or e.get("args", {}).get("step", 0) < from_step:
            continue
        steps[e["args"]["step"]].append(e)
        if e["name"] in ("forward", "backward"):
            per_rank[e["tid"]][e["name"]].append(e["args"]["thread_cpu_ms"])
    if not per_rank:
        sys.exit(f"{path}: no forward/backward events from step {from_step} on")
    spans, per_cpu = [], collections.defaultdict(list)
    for ev in steps.values():
        marks = [e for e in ev if e["name"] == "step"]
        if len(marks) < len(cpu_of):
            continue  # a step not every rank finished inside the trace
        spans.append((max(e["ts"] + e["dur"] for e in marks) - min(e["ts"] for e in marks)) / 1e3)
        for c in sorted(set(cpu_of.values())):
            per_cpu[c].append(sum(e["args"]["thread_cpu_ms"] for e in ev
                                  if e["name"] in ("forward", "backward", "optimizer")
                                  and cpu_of.get(e["tid"]) == c))
    ranks = " ".join(
        f"r{r} {statistics.mean(v['forward']):.2f}+{statistics.mean(v['backward']):.2f}"
        for r, v in sorted(per_rank.items()))
    cpus = " ".join(f"cpu {c} {statistics.median(v):.1f}" for c, v in sorted(per_cpu.items()))
    span = statistics.median(spans) if spans else float("nan")
    return f"per micro-batch fwd+bwd CPU ms: {ranks} | per step: span {span:.1f}, CPU ms {cpus}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("traces", nargs="+")
    ap.add_argument("--from-step", type=int, default=3, help="first step counted (0-based)")
    a = ap.parse_args()
    for t in a.traces:
        print(f"{t}: {summarize(t, a.from_step)}")


if __name__ == "__main__":
    main()
