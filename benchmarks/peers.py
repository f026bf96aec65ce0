"""feratt's shipped model beside the `fer` package (FER2013 mini-Xception) on the same FER2013
val crops, fed directly to both (no face detection): accuracy and median ms per face.

`fer` needs TensorFlow, so it runs in its own virtual environment, never in feratt's:
    python -m venv /tmp/venv-fer && /tmp/venv-fer/bin/pip install fer tensorflow-cpu "setuptools<80"
    python benchmarks/peers.py --fer-python /tmp/venv-fer/bin/python --data ../shared/data/fer2013
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from feratt.data import open_dataset
from feratt.data.cache import prepare_cached
from feratt.data.labels import canonical
from feratt.inference import Recognizer


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fer-python", type=Path, required=True, help="python of the fer venv")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/fer2013"))
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/feratt").expanduser())
    parser.add_argument("--limit", type=int, default=0, help="first N val faces (0: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the table's numbers (JSON)")
    return parser.parse_args()


def feratt_predictions(crops: np.ndarray) -> tuple[list[str], float]:
    """Labels of the shipped model (one crop at a time, as a user calls it) and median ms."""
    recognizer = Recognizer.pretrained(threads=1)
    labels, times = [], []
    for crop in crops:
        start = time.perf_counter()
        (face,) = recognizer.predict(crop, detect=False)
        times.append(time.perf_counter() - start)
        labels.append(face.label)
    return labels, 1000 * statistics.median(times[1:])


def fer_predictions(python: Path, variant: str, crops: np.ndarray) -> tuple[list[str], float]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "crops.npy"
        np.save(path, crops)
        script = Path(__file__).with_name("peer_fer.py")
        done = subprocess.run(
            [str(python), str(script), str(path), variant],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"{python} {script} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["labels"], result["ms_per_face"]


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    val = prepare_cached(open_dataset(args.data, format="fer2013-folders", split="val"),
                         args.cache_dir)  # fmt: skip
    count = len(val) if args.limit <= 0 else min(args.limit, len(val))
    crops = np.ascontiguousarray(val.faces[:count, 0])  # (N, 48, 48) uint8 grey
    truth = [canonical(val.classes[k]) for k in val.labels[:count]]
    rows = {}
    for name, predict in (
        ("feratt (shipped FERAtt+Rep+Cls, width 0.25)", feratt_predictions),
        ("fer 25.10, default (mini-Xception, int8 TensorFlow Lite)",
         lambda c: fer_predictions(args.fer_python, "tflite", c)),
        ("fer 25.10, use_tflite=False (mini-Xception, float32 Keras)",
         lambda c: fer_predictions(args.fer_python, "keras", c)),
    ):  # fmt: skip
        labels, ms = predict(crops)
        correct = sum(canonical(p) == t for p, t in zip(labels, truth, strict=True))
        rows[name] = {"accuracy": correct / count, "ms_per_face": ms}
    print(f"FER2013 val, {count} crops fed directly (no detection), {args.threads} thread(s)\n")
    print("| model | accuracy | ms / face |\n| --- | ---: | ---: |")
    for name, row in rows.items():
        print(f"| {name} | {100 * row['accuracy']:.2f}% | {row['ms_per_face']:.1f} |")
    if args.out is not None:
        args.out.write_text(json.dumps({"faces": count, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
