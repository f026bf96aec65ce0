"""Time the first preparation of FER2013 train and its reload from the prepared-face cache.

Usage: python3 benchmarks/data_cache.py [--data ../shared/data/fer2013] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from feratt.data import open_dataset
from feratt.data.cache import prepare_cached


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fer2013"
    parser.add_argument("--data", default=str(default))
    parser.add_argument("--split", default="train")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as cache_dir:

        def run(mmap: bool = False):
            dataset = open_dataset(args.data, split=args.split)
            return prepare_cached(dataset, cache_dir, args.size, workers=args.workers, mmap=mmap)

        dataset, seconds = timed(lambda: open_dataset(args.data, split=args.split))
        rows.append(("open_dataset (list files, no decoding)", len(dataset), seconds))
        prepared, seconds = timed(run)
        assert not prepared.meta["cache_hit"]
        rows.append((f"first preparation ({args.workers} threads)", len(prepared), seconds))
        for mmap in (True, False):
            prepared, seconds = timed(lambda mmap=mmap: run(mmap))
            assert prepared.meta["cache_hit"]
            rows.append((f"cached reload (open + key + load, mmap={mmap})", len(prepared), seconds))
        _, seconds = timed(lambda: int(run(True).faces.sum()))
        rows.append(("cached reload (mmap) + read every face once", len(prepared), seconds))
    size = f"{args.size}x{args.size}"
    print(f"FER2013 {args.split} from {args.data}, faces {size}, grey")
    print(f"| {'step':48s} | {'faces':>6s} | {'seconds':>8s} | {'faces/s':>9s} |")
    print(f"| {'-' * 48} | {'-' * 6} | {'-' * 8} | {'-' * 9} |")
    for step, count, seconds in rows:
        print(f"| {step:48s} | {count:6d} | {seconds:8.2f} | {count / seconds:9.0f} |")


if __name__ == "__main__":
    main()
