"""Inference latency at batch 1: a whole 640x480 photo with one face, and one face crop alone.

Compares PyTorch and ONNX Runtime for the full-width FERAtt+Rep+Cls and the PreActResNet18
baseline (untrained weights: latency does not depend on their values), on a fixed thread count,
with the Recognizer's default Haar settings and HaarFaceDetector's (slower) defaults.

Usage: python3 benchmarks/inference_latency.py [--threads 2] [--repeats 30] [--classes 7]
On a 2-vCPU box shared with other jobs, torch with 2 threads can be ~50x slower than with 1
(OpenMP spin-waits); compare with --threads 1 there.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage import data

from feratt import create_model
from feratt.checkpoint import save_checkpoint
from feratt.data.inputs import model_input
from feratt.data.preparation import HaarFaceDetector
from feratt.inference import Recognizer
from feratt.inference.recognizer import default_detector, prepare_crop

MODELS = ("feratt_rep_cls", "preactresnet18")


def photo() -> np.ndarray:
    """scikit-image's astronaut as a 640x480 photo: the middle 480 rows, grey side bars."""
    return cv2.copyMakeBorder(
        data.astronaut()[16:496], 0, 0, 64, 64, cv2.BORDER_CONSTANT, value=(128, 128, 128)
    )


def timings_ms(fn: Callable[[], object], repeats: int, warmup: int = 3) -> tuple[float, ...]:
    """Median and min wall time, and median CPU time (all threads) per call, in ms.

    On a shared machine the min and the CPU time show the cost without other processes' load.
    """
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(1000 * (time.perf_counter() - start))
        cpu.append(1000 * (time.process_time() - start_cpu))
    return statistics.median(wall), min(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--classes", type=int, default=7)
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)

    image = photo()
    detectors = {"inference": default_detector(), "training": HaarFaceDetector()}
    face_box = detectors["inference"].detect(image)[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            model = create_model(name, num_classes=args.classes)
            checkpoint = save_checkpoint(Path(tmp) / f"{name}.pt", model)
            for backend in ("torch", "onnx"):
                loaded = Recognizer.from_checkpoint(
                    checkpoint, backend=backend, threads=args.threads
                )
                face = prepare_crop(image, face_box, loaded.config.input_size)
                batch = model_input([face], loaded.config.in_channels).numpy()
                per_face = timings_ms(lambda r=loaded, b=batch: r.backend.run(b), args.repeats)
                for label, detector in detectors.items():
                    recognizer = Recognizer(loaded.backend, detector)
                    found = recognizer.predict(image)
                    if len(found) != 1:
                        raise RuntimeError(f"{label}: expected one face, found {len(found)}")
                    detect = timings_ms(lambda r=recognizer: r.detect(image), args.repeats)
                    whole = timings_ms(lambda r=recognizer: r.predict(image), args.repeats)
                    rows.append((name, backend, label, *detect, *per_face, *whole))
    print(
        f"batch 1, {args.threads} threads, torch {torch.__version__}, 640x480 photo with one "
        f"face; ms per call: median wall (min wall) [median CPU, all threads], {args.repeats} runs"
    )
    print("detectors: inference = the Recognizer's default Haar (max side 400, scale 1.2);")
    print("training = HaarFaceDetector() defaults (max side 640, scale 1.1)")
    header = ("model", "backend", "detector", "detect", "per face", "whole image")
    print("| {:16s} | {:7s} | {:12s} | {:>24s} | {:>24s} | {:>24s} |".format(*header))
    print(f"| {'-' * 16} | {'-' * 7} | {'-' * 12} | {'-' * 24} | {'-' * 24} | {'-' * 24} |")
    for name, backend, label, *times in rows:
        cells = [f"{times[i]:6.1f} ({times[i + 1]:6.1f}) [{times[i + 2]:6.1f}]" for i in (0, 3, 6)]
        print(f"| {name:16s} | {backend:7s} | {label:12s} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
