"""Run a trained model over a test set and score it: argmax logits (Cls) and k-NN on z (Rep).

SPEC section 2: Rep models predict by k-nearest neighbours (k = 11, Euclidean) of the
representation z against the training split's embeddings; both predictions are reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from feratt.data.inputs import ImageBatch, model_input
from feratt.engine.metrics import classification_metrics


@dataclass
class Predictions:
    """Everything a model produced for a set of images, stacked on the CPU in float32.

    Args:
        logits: (N, K) class scores.
        embeddings: (N, d) representations z (Rep models), else None.
        attention_images: (N, 3, H, W) I_att, kept only when asked for, else None.
        attention_maps: (N, K, H, W) A, kept only when asked for, else None.
        aligned_images: (N, 3, H, W) what G_rep classified when the model aligns I_att (STN or
            moments), kept only when attention is asked for, else None.
    """

    logits: torch.Tensor
    embeddings: torch.Tensor | None = None
    attention_images: torch.Tensor | None = None
    attention_maps: torch.Tensor | None = None
    aligned_images: torch.Tensor | None = None


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@torch.inference_mode()
def predict_all(
    model: nn.Module,
    images: ImageBatch,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    keep_attention: bool = False,
    amp: bool = False,
) -> Predictions:
    """Forward `images` (N, C, S, S) through `model` in eval mode, batch by batch.

    Args:
        model: a feratt model (returns FERAttOutput); moved to `device` when one is given.
        images: uint8 or float [0, 1] images, any channel count / size (see `model_input`).
        batch_size: images per forward pass.
        device: where to run; default: where the model's parameters are.
        keep_attention: also return I_att, A and the aligned I_att (memory: K x H x W floats
            per image).
        amp: run under bfloat16 autocast (GPUs); outputs are returned in float32.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if len(images) == 0:
        raise ValueError("no images to predict")
    if device is not None:
        model.to(device)
    device = _model_device(model)
    config = model.config
    was_training = model.training
    model.eval()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if amp else nullcontext()
    names = ("logits", "embedding") + (
        ("attention_image", "attention_map", "aligned_image") if keep_attention else ()
    )
    collected: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    try:
        for start in range(0, len(images), batch_size):
            # Move the (often uint8) batch first: 4x less to transfer than float.
            batch = torch.as_tensor(images[start : start + batch_size]).to(
                device, non_blocking=True
            )
            with autocast:
                output = model(model_input(batch, config.in_channels, config.input_size))
            for name, parts in collected.items():
                value = getattr(output, name)
                if value is not None:
                    parts.append(value.float().cpu())
    finally:
        model.train(was_training)
    stacked = {name: torch.cat(parts) if parts else None for name, parts in collected.items()}
    return Predictions(
        logits=stacked["logits"],
        embeddings=stacked["embedding"],
        attention_images=stacked.get("attention_image"),
        attention_maps=stacked.get("attention_map"),
        aligned_images=stacked.get("aligned_image"),
    )


def knn_predict(
    train_embeddings: ImageBatch,
    train_labels: Sequence[int] | np.ndarray,
    embeddings: ImageBatch,
    k: int = 11,
) -> np.ndarray:
    """Labels of `embeddings` by majority vote of their k nearest (Euclidean) training embeddings.

    k is capped at the number of training embeddings so a tiny reference set still works.
    """
    train = np.asarray(train_embeddings, dtype=np.float32)
    labels = np.asarray(train_labels, dtype=np.int64)
    if len(train) == 0 or len(train) != len(labels):
        raise ValueError(f"{len(train)} training embeddings for {len(labels)} labels")
    classifier = KNeighborsClassifier(n_neighbors=min(k, len(train)), metric="euclidean")
    classifier.fit(train, labels)
    return classifier.predict(np.asarray(embeddings, dtype=np.float32))


def score(
    predictions: Predictions,
    labels: Sequence[int] | np.ndarray,
    classes: Sequence[str],
    train_embeddings: ImageBatch | None = None,
    train_labels: Sequence[int] | np.ndarray | None = None,
    k: int = 11,
) -> dict[str, Any]:
    """Metrics of the argmax prediction ("cls") and, given training embeddings, of k-NN ("knn")."""
    labels = np.asarray(labels, dtype=np.int64)
    result: dict[str, Any] = {
        "classes": list(classes),
        "num_samples": len(labels),
        "cls": classification_metrics(labels, predictions.logits.argmax(1).numpy(), classes),
    }
    if predictions.embeddings is not None and train_embeddings is not None:
        if train_labels is None:
            raise ValueError("train_labels are needed with train_embeddings for k-NN")
        knn = knn_predict(train_embeddings, train_labels, predictions.embeddings, k)
        result["knn"] = {**classification_metrics(labels, knn, classes), "k": k}
    return result


def evaluate(
    model: nn.Module,
    images: ImageBatch,
    labels: Sequence[int] | np.ndarray,
    classes: Sequence[str],
    train_images: ImageBatch | None = None,
    train_labels: Sequence[int] | np.ndarray | None = None,
    k: int = 11,
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Score `model` on labelled test images; the k-NN score needs a Rep model and training images.

    Returns ``{"classes", "num_samples", "cls": metrics, "knn": metrics}`` ("knn" only for
    models with embeddings when `train_images` are given); metrics as `classification_metrics`.
    """
    test = predict_all(model, images, batch_size, device)
    train_embeddings = None
    if test.embeddings is not None and train_images is not None:
        train_embeddings = predict_all(model, train_images, batch_size, device).embeddings
    return score(test, labels, classes, train_embeddings, train_labels, k)
