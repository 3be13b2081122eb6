#!/usr/bin/env python3
"""Re-predicts the peak memory of a bench_accuracy run's plans with the current build.

A plan's measured peak is deterministic (the tracking allocator counts bytes, the same plan gives
the same peak in every run), so a memory-model change can be judged on an earlier run's rows
without training again:

    bench/executor/repredict_memory.py --rows DIR/accuracy.json --cluster cluster.json \
        --model configs/models/gpt-mini.json --profile gpt-mini.profile.json

prints the plans whose error is above --show (default 8%) with the bench's and the current
prediction, then mean / max absolute error and the number of under-predictions.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", required=True, help="accuracy.json written by bench_accuracy")
    ap.add_argument("--cluster", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--profile", required=True)
    ap.add_argument("--paratune", default="build/apps/paratune")
    ap.add_argument("--show", type=float, default=8.0, help="list plans above this error (%%)")
    a = ap.parse_args()
    try:
        rows = json.load(open(a.rows))["rows"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit("repredict_memory: cannot read rows from %s: %s" % (a.rows, e))
    errs, under = [], 0
    for x in rows:
        if x.get("status", "ok") != "ok" or not x.get("meas_bytes"):
            continue
        s = dict(x["strategy"])
        s.pop("predicted", None)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(s, f)
            name = f.name
        try:
            r = subprocess.run([a.paratune, "estimate", "--cluster", a.cluster, "--model", a.model,
                                "--profile", a.profile, "--strategy", name],
                               capture_output=True, text=True)
        finally:
            os.unlink(name)
        m = re.search(r"peak memory ([0-9.]+) MiB", r.stdout)
        if r.returncode != 0 or not m:
            sys.exit("repredict_memory: paratune estimate failed on %s: %s" % (x["plan"], r.stderr.strip()))
        pred = float(m.group(1)) * 2**20
        e = pred / x["meas_bytes"] - 1
        errs.append(abs(e))
        under += e < 0
        if abs(e) * 100 > a.show:
            print("%-42s bench %+6.1f%%  now %+6.1f%%" %
                  (x["plan"], 100 * (x["pred_bytes"] / x["meas_bytes"] - 1), 100 * e))
    if not errs:
        sys.exit("repredict_memory: no measured rows in %s" % a.rows)
    print("%d plans: peak memory mean abs error %.1f%%, max %.1f%%, under-predicted %d of %d" %
          (len(errs), 100 * sum(errs) / len(errs), 100 * max(errs), under, len(errs)))


if __name__ == "__main__":
    main()
