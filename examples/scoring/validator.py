#!/usr/bin/env python3
"""Another subnet's validator scoring bistro slices in Python, through the C
library (python/libbistro.py). Standard library only.

It scores every slice of a local-network run whose base it can rebuild and
prints the verdicts:

    go run ./examples/scoring/localrun -out /tmp/run   # a short local network, files kept
    ./scripts/libbistro                                # build/libbistro.so
    python3 examples/scoring/validator.py /tmp/run

A real validator reads the seed from the chain (the finalized hash of the
window's seed block) and fetches the files from the buckets that the miners
and the lead committed on chain; here they are on disk, and the seed is read
from the lead's aggregate of the window.
"""

import argparse
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import libbistro  # noqa: E402


def metadata(path):
    """The __metadata__ of a safetensors file (its JSON header)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))["__metadata__"]


def requests(run):
    """Yields (miner bucket, request) for every slice of the run that can be
    scored: windows with an aggregate (for the seed) and a checkpoint at or
    before them."""
    with open(os.path.join(run, "params.json")) as f:
        params = json.load(f)
    netuid, first = params["netuid"], params["first_window"]
    buckets = os.path.join(run, "buckets")

    def objects(bucket, *parts):
        return os.path.join(buckets, bucket, "bistro", "v1", str(netuid), *parts)

    names = sorted(os.listdir(buckets))
    lead = next(b for b in names if os.path.isdir(objects(b, "checkpoints")))
    checkpoints = sorted(int(n.split(".")[0]) for n in os.listdir(objects(lead, "checkpoints")))
    windows = sorted(int(d) for d in os.listdir(objects(lead)) if d.isdigit())
    for w in windows:
        aggregate = objects(lead, str(w), "aggregate.safetensors")
        older = [c for c in checkpoints if c <= w]
        if not os.path.exists(aggregate) or not older:
            continue
        c = older[-1]
        # base(w) = the checkpoint's base(c) + the aggregates of windows
        # c−1 … w−2 (none before the network's first window).
        aggregates = [objects(lead, str(a), "aggregate.safetensors") for a in range(max(c - 1, first), w - 1)]
        for bucket in names:
            folder = objects(bucket, str(w))
            if not os.path.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                path = os.path.join(folder, name)
                if name == "aggregate.safetensors" or not name.endswith(".safetensors") or not os.path.isfile(path):
                    continue
                yield bucket, {
                    "params": os.path.join(run, "params.json"),
                    "checkpoint": objects(lead, "checkpoints", f"{c}.safetensors"),
                    "aggregates": aggregates,
                    "dataset": "optics",
                    "window": w,
                    "hotkey": name[: -len(".safetensors")],
                    "seed": metadata(aggregate)["seed"],
                    "slice": path,
                }


def main():
    ap = argparse.ArgumentParser(description="score the slices of a local-network run through libbistro")
    ap.add_argument("run", help="the run's folder (params.json, buckets/)")
    ap.add_argument("--lib", help="path of libbistro (default: $BISTRO_LIB, else build/libbistro.so)")
    ap.add_argument("--json", action="store_true",
                    help="one JSON object per slice: window, miner, request and the library's response as it wrote it")
    args = ap.parse_args()

    lib = libbistro.Library(args.lib)
    n = 0
    for miner, req in requests(args.run):
        raw = lib.score_json(json.dumps(req))
        n += 1
        if args.json:
            print(json.dumps({"window": req["window"], "miner": miner, "request": req, "response": raw}))
            continue
        resp = json.loads(raw)
        who = f"window {req['window']:>3}  {miner:<18} {req['hotkey'][:10]}…"
        if "error" in resp:
            print(f"{who}  error {resp['error']['code']}: {resp['error']['message']}")
        else:
            rel = "-" if resp["rel_err"] is None else f"{resp['rel_err']:.3g}"
            print(f"{who}  {resp['verdict']:<5}  value {resp['value']:g}  rel_err {rel:<8} {resp['reason']}")
    if n == 0:
        print("no slice to score: run more windows than the checkpoint interval", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
