"""What a model's own predictions on a set of faces score: the reference that evaluation records
(`evaluate`, `feratt eval`, `feratt demo`) are compared with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from feratt.data.inputs import ImageBatch, model_input


def outputs_one_by_one(
    model: nn.Module, images: ImageBatch
) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, K) logits and (N, d) embeddings (None without) of `model` in eval mode, one image per
    forward pass: no batching, device or prediction code shared with the code under test."""
    model.eval()
    config = model.config
    logits, embeddings = [], []
    with torch.no_grad():
        for i in range(len(images)):
            output = model(model_input(images[i : i + 1], config.in_channels, config.input_size))
            logits.append(output.logits[0].float().numpy())
            if output.embedding is not None:
                embeddings.append(output.embedding[0].float().numpy())
    return np.stack(logits), np.stack(embeddings) if embeddings else None


def knn_reference(
    train_embeddings: np.ndarray, train_labels: np.ndarray, embeddings: np.ndarray, k: int
) -> np.ndarray:
    """Majority label of the k (at most all) nearest training embeddings, ties to the lowest."""
    distances = ((embeddings[:, None] - train_embeddings[None]) ** 2).sum(-1)
    k = min(k, len(train_embeddings))
    nearest = np.asarray(train_labels)[np.argsort(distances, axis=1, kind="stable")[:, :k]]
    return np.array([np.bincount(row).argmax() for row in nearest])


def assert_metrics_of(metrics: dict, labels: np.ndarray, predicted: np.ndarray) -> None:
    """`metrics` are those of these predictions: accuracy and confusion matrix counted here."""
    confusion = np.zeros((len(metrics["per_class"]),) * 2, dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    assert metrics["confusion_matrix"] == confusion.tolist()
    assert metrics["accuracy"] == pytest.approx(float(np.mean(labels == predicted)), abs=1e-12)
    assert metrics["num_samples"] == len(labels)


def assert_record_of(
    record: dict[str, Any],
    model: nn.Module,
    images: ImageBatch,
    labels: np.ndarray,
    train_images: ImageBatch | None = None,
    train_labels: np.ndarray | None = None,
    k: int = 11,
) -> None:
    """An evaluation record scores `model`'s own predictions on these faces: argmax of the logits
    ("cls") and, for models with embeddings, their k-NN among the training faces' ("knn")."""
    logits, embeddings = outputs_one_by_one(model, images)
    assert record["num_samples"] == len(labels)
    assert_metrics_of(record["cls"], labels, logits.argmax(1))
    if embeddings is None:
        assert "knn" not in record
        return
    assert train_images is not None and train_labels is not None, "a Rep model needs its k-NN set"
    _, train_embeddings = outputs_one_by_one(model, train_images)
    assert record["knn"]["k"] == k
    knn = knn_reference(train_embeddings, np.asarray(train_labels), embeddings, k)
    assert_metrics_of(record["knn"], labels, knn)


def assert_saved_embeddings(
    path: Path, model: nn.Module, images: ImageBatch, labels: np.ndarray
) -> None:
    """An ``_embeddings.npz`` file holds the model's own embeddings of these faces, in order,
    with their labels."""
    saved = np.load(path)
    np.testing.assert_array_equal(saved["labels"], labels)
    _, embeddings = outputs_one_by_one(model, images)
    np.testing.assert_allclose(saved["embeddings"], embeddings, atol=1e-5)
