"""Measure a FER2013 model for its model card: val accuracy (Cls head and k-NN), the paper's
metrics, per-class recall, confusion matrix, a fitted temperature with the expected calibration
error before and after (reliability diagram), and an attention grid of val faces.

    python scripts/model_card.py runs/fer2013_feratt/model-best.pt \
        --data ../shared/data/fer2013 --out benchmarks/results/release

Writes OUT/card.json, OUT/confusion.png, OUT/reliability.png and OUT/attention.png; prints the
temperature to pass to `scripts/release_weights.py --temperature`. The temperature is fitted on
val, the same split the card reports, so its after-scaling ECE is an in-sample figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from skimage import data as skimage_data

from feratt.checkpoint import load_checkpoint
from feratt.data import open_dataset
from feratt.data.cache import prepare_cached
from feratt.engine.calibration import fit_temperature, plot_reliability, reliability
from feratt.engine.evaluate import knn_predict, predict_all
from feratt.engine.metrics import classification_metrics
from feratt.engine.plots import plot_attention_grid, plot_confusion_matrix
from feratt.engine.protocol import reference_sample
from feratt.inference import Recognizer


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/fer2013"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/release"))
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/feratt").expanduser())
    parser.add_argument(
        "--knn-reference",
        type=int,
        default=7000,
        help="training faces (a fixed random sample) whose embeddings k-NN votes over",
    )
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args()


def _prepared(root: Path, split: str, cache_dir: Path):  # noqa: ANN202 - PreparedFaces
    return prepare_cached(open_dataset(root, format="fer2013-folders", split=split), cache_dir)


def _median_ms(run, repeats: int = 20) -> float:  # noqa: ANN001 - a no-argument callable
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - start))
    return round(statistics.median(times), 1)


def latency(checkpoint: Path, crop: np.ndarray) -> dict[str, float]:
    """Median wall ms of one face crop (no detection) and of a 640x480 photo with one face
    (scikit-image's astronaut, Haar detection included), torch and ONNX Runtime backends."""
    photo = cv2.resize(skimage_data.astronaut(), (640, 480), interpolation=cv2.INTER_AREA)
    result = {}
    for backend in ("torch", "onnx"):
        recognizer = Recognizer.from_checkpoint(checkpoint, backend=backend, threads=1)
        result[f"{backend}_face_ms"] = _median_ms(lambda r=recognizer: r.predict(crop, False))
        result[f"{backend}_photo_ms"] = _median_ms(lambda r=recognizer: r.predict(photo))
        faces = recognizer.predict(photo)
        result[f"{backend}_photo_faces"] = [(f.label, round(f.confidence, 3)) for f in faces]
    return result


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    checkpoint = load_checkpoint(args.checkpoint)
    model, classes = checkpoint.model, checkpoint.classes
    val = _prepared(args.data, "val", args.cache_dir)
    if tuple(val.classes) != tuple(classes):
        raise SystemExit(f"class order differs: model {classes}, data {val.classes}")
    start = time.perf_counter()
    predictions = predict_all(model, val.faces, batch_size=128)
    seconds = time.perf_counter() - start
    labels = torch.as_tensor(val.labels)
    card: dict = {
        "checkpoint": str(args.checkpoint),
        "config": checkpoint.config.to_dict(),
        "classes": list(classes),
        "val_faces": len(val),
        "val_forward_ms_per_face": round(1000 * seconds / len(val), 2),
        "cls": classification_metrics(val.labels, predictions.logits.argmax(1).numpy(), classes),
    }
    if predictions.embeddings is not None:
        train = _prepared(args.data, "train", args.cache_dir)
        pick = reference_sample(len(train), args.knn_reference)
        reference = predict_all(model, train.faces[pick], batch_size=128).embeddings
        knn = knn_predict(reference, train.labels[pick], predictions.embeddings)
        card["knn"] = {
            **classification_metrics(val.labels, knn, classes),
            "k": 11,
            "reference_faces": len(pick),
        }
    temperature = fit_temperature(predictions.logits, labels)
    raw = reliability(F.softmax(predictions.logits, 1), labels)
    scaled = reliability(F.softmax(predictions.logits / temperature, 1), labels)
    card["calibration"] = {
        "temperature": round(temperature, 4),
        "ece_before": round(raw.ece, 4),
        "ece_after": round(scaled.ece, 4),
        "nll_before": round(F.cross_entropy(predictions.logits, labels).item(), 4),
        "nll_after": round(F.cross_entropy(predictions.logits / temperature, labels).item(), 4),
        "bins": len(raw.counts),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    plot_confusion_matrix(
        card["cls"]["confusion_matrix"], classes, args.out / "confusion.png", "FER2013 val"
    )
    plot_reliability({"raw": raw, f"T = {temperature:.2f}": scaled}, args.out / "reliability.png")
    sample = np.concatenate([np.flatnonzero(val.labels == c)[:2] for c in range(len(classes))])
    shown = predict_all(model, val.faces[sample], keep_attention=True)
    images = torch.as_tensor(val.faces[sample]).float().div(255).expand(-1, 3, -1, -1)
    plot_attention_grid(
        images,
        shown.attention_images,
        shown.attention_maps,
        args.out / "attention.png",
        titles=[classes[val.labels[i]] for i in sample],
    )
    card["latency"] = latency(args.checkpoint, np.asarray(val.faces[0][0]))
    (args.out / "card.json").write_text(json.dumps(card, indent=2))
    cls = card["cls"]
    print(f"val accuracy (Cls) {100 * cls['accuracy']:.2f}%", end="")
    if "knn" in card:
        print(f", k-NN {100 * card['knn']['accuracy']:.2f}%", end="")
    print(f"; temperature {temperature:.3f}, ECE {raw.ece:.4f} -> {scaled.ece:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
