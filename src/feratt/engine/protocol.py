"""The paper's test protocol for one trained model, written to disk.

"Real" test = the test faces as they are; "Synthetic" test = the same faces through the test-mode
compositor on backgrounds never used in training (SPEC section 3), exactly as the data module
builds them. Rep models are also scored by k-NN against the training faces' embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from feratt.data.inputs import model_input
from feratt.data.records import PreparedFaces
from feratt.devices import torch_device
from feratt.engine.datamodule import FERAttDataModule
from feratt.engine.evaluate import predict_all, score
from feratt.engine.plots import plot_attention_grid
from feratt.engine.reporting import save_embeddings, write_evaluation


def remap_labels(
    labels: np.ndarray, data_classes: Sequence[str], model_classes: Sequence[str]
) -> np.ndarray:
    """Labels indexing `data_classes` -> indices into `model_classes` (matched by name)."""
    missing = [name for name in data_classes if name not in model_classes]
    if missing:
        raise ValueError(
            f"the data has classes {missing} the model does not know (model classes: "
            f"{', '.join(model_classes)})"
        )
    lookup = np.array([list(model_classes).index(name) for name in data_classes], dtype=np.int64)
    return lookup[np.asarray(labels, dtype=np.int64)]


def reference_sample(count: int, limit: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a fixed random sample of at most `limit` of `count` training faces, the
    k-NN reference when embedding all of them costs too much (FER2013: 27k faces)."""
    if limit < 1:
        raise ValueError(f"the k-NN reference needs at least 1 face; got {limit}")
    if limit >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).permutation(count)[:limit])


def _test_faces(datamodule: FERAttDataModule) -> PreparedFaces:
    faces = datamodule.faces.get("test")
    if faces is None:
        raise ValueError("no test faces: give a test split (data.test_split) or folds (data.folds)")
    return faces


def test_images(
    datamodule: FERAttDataModule, synthetic: bool, device: torch.device
) -> torch.Tensor:
    """The data module's test images: uint8 faces (real) or float composites on `device`."""
    if not synthetic:
        return torch.as_tensor(np.asarray(_test_faces(datamodule).faces))
    if "test" not in datamodule.backgrounds:
        raise ValueError("the synthetic test needs backgrounds (data.backgrounds)")
    batches = [
        datamodule.eval_batch("test", c.index, c.batch, device, synthetic=True).image
        for c in datamodule.eval_chunks("test")
    ]
    return torch.cat(batches)


def evaluate_datamodule(
    model: nn.Module,
    datamodule: FERAttDataModule,
    out_dir: str | Path,
    classes: Sequence[str] | None = None,
    fold: int | None = None,
    synthetic: bool | None = None,
    k: int = 11,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    attention_samples: int = 8,
    provenance: dict[str, Any] | None = None,
    knn_reference: int | None = None,
) -> list[dict[str, Any]]:
    """Evaluate `model` on the real (and synthetic) test set of a set-up data module.

    Writes ``real``/``synthetic`` .json, .md, confusion PNGs, ``_embeddings.npz`` (Rep models)
    and ``_attention.png`` (attention models) into `out_dir`, and returns the records.

    Args:
        model: a feratt model.
        datamodule: a data module after ``setup()`` (or ``from_prepared``) with test faces.
        out_dir: where the files go.
        classes: the model's class names (label order); default: the data's.
        fold: the k-fold index recorded for fold summaries; default: the data config's.
        synthetic: evaluate the synthetic test set too; default: when there are backgrounds.
        k: neighbours of the k-NN prediction (Rep models).
        batch_size, device: inference settings (device ``auto``: the GPU when there is one).
        attention_samples: test images shown in the attention grid (0: none).
        provenance: extra fields for each record (checkpoint, data path...).
        knn_reference: k-NN over this many training faces (``reference_sample``; None: all).
    """
    device = torch_device(device)
    if fold is None and datamodule.config.folds:
        fold = datamodule.config.fold
    data_classes = tuple(datamodule.classes)
    classes = tuple(classes or data_classes)
    if len(classes) != model.config.num_classes:
        raise ValueError(f"{len(classes)} class names for a {model.config.num_classes}-class model")
    train = datamodule.faces["train"]
    if knn_reference is not None:  # a copy of the sample only: all faces stay memory-mapped
        train = train.subset(reference_sample(len(train), knn_reference))
    labels = remap_labels(_test_faces(datamodule).labels, data_classes, classes)
    train_labels = remap_labels(train.labels, data_classes, classes)
    out = Path(out_dir)
    if synthetic is None:
        synthetic = "test" in datamodule.backgrounds
    reference: torch.Tensor | None = None
    records = []
    for kind in ("real", "synthetic") if synthetic else ("real",):
        images = test_images(datamodule, kind == "synthetic", device)
        predictions = predict_all(model, images, batch_size, device)
        if predictions.embeddings is not None and reference is None:
            reference = predict_all(model, train.faces, batch_size, device).embeddings
        record = {
            "model": model.config.name,
            "test": kind,
            "fold": fold,
            **(provenance or {}),
            **score(predictions, labels, classes, reference, train_labels, k),
        }
        if "knn" in record:
            record["knn"]["reference_faces"] = len(train)
        if predictions.embeddings is not None:
            save_embeddings(out / f"{kind}_embeddings.npz", predictions.embeddings, labels, classes)
            record["embeddings"] = f"{kind}_embeddings.npz"
        write_evaluation(record, out, kind)
        if attention_samples > 0:
            _attention_grid(model, images[:attention_samples], labels, classes, out, kind, device)
        records.append(record)
    return records


def _attention_grid(
    model: nn.Module,
    images: torch.Tensor,
    labels: np.ndarray,
    classes: Sequence[str],
    out_dir: Path,
    kind: str,
    device: torch.device,
) -> Path | None:
    """input | I_att | sigmoid(A) of the predicted class, for the first test images."""
    shown = predict_all(model, images, len(images), device, keep_attention=True)
    if shown.attention_images is None or shown.attention_maps is None:
        return None
    predicted = shown.logits.argmax(1).tolist()
    pairs = zip(labels[: len(predicted)], predicted, strict=True)
    titles = [f"{classes[t]} -> {classes[p]}" for t, p in pairs]
    inputs = model_input(images, model.config.in_channels, model.config.input_size)
    return plot_attention_grid(
        inputs,
        shown.attention_images,
        shown.attention_maps,
        out_dir / f"{kind}_attention.png",
        channels=predicted,
        titles=titles,
        aligned_images=shown.aligned_images,
    )
