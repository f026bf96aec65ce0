"""The `fer` package's side of `benchmarks/peers.py`: classify 48x48 grey crops given as a .npy
file with fer's mini-Xception and print its predictions and timing as JSON.

Runs in a separate virtual environment that has `fer` and TensorFlow (never in feratt's own):
    /path/to/venv-fer/bin/python benchmarks/peer_fer.py crops.npy tflite|keras
(tflite: fer's default int8 TensorFlow Lite model; keras: its float32 Keras model.)
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def main() -> int:
    import cv2
    from fer.fer import FER  # fer 25.10 no longer re-exports FER from the package

    crops = np.load(sys.argv[1])  # (N, 48, 48) uint8
    detector = FER(mtcnn=False, use_tflite=sys.argv[2] == "tflite")
    # Every crop is the face: fer's classifier on the whole crop, no detection.
    boxes = [(0, 0, crops.shape[2], crops.shape[1])]
    labels, times = [], []
    for crop in crops:
        image = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
        start = time.perf_counter()
        faces = detector.detect_emotions(image, face_rectangles=boxes)
        times.append(time.perf_counter() - start)
        emotions = faces[0]["emotions"]
        labels.append(max(emotions, key=emotions.get))
    print(json.dumps({"labels": labels, "ms_per_face": 1000 * float(np.median(times[1:]))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
