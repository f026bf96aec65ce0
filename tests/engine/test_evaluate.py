"""Evaluation: batched prediction, k-NN on embeddings, metric dicts from tiny real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from eval_reference import assert_metrics_of, assert_record_of

from feratt import create_model
from feratt.checkpoint import load_checkpoint
from feratt.data.inputs import model_input
from feratt.data.labels import EXPRESSIONS
from feratt.data.records import PreparedFaces
from feratt.engine.evaluate import evaluate, knn_predict, predict_all
from feratt.inference.images import load_image
from feratt.inference.recognizer import prepare_crop

CLASSES = ("happy", "sad", "anger")


def test_knn_is_exact_on_separable_embeddings_and_uses_k11() -> None:
    rng = np.random.default_rng(0)
    centres = 10.0 * np.eye(3, 16)
    train_labels = np.repeat(np.arange(3), 12)
    train = centres[train_labels] + rng.normal(scale=0.5, size=(36, 16))
    test_labels = np.tile(np.arange(3), 5)
    test = centres[test_labels] + rng.normal(scale=0.5, size=(15, 16))
    np.testing.assert_array_equal(knn_predict(train, train_labels, test), test_labels)

    # 6 training points of class 0 sit on the query, 10 of class 1 further away: the 1-NN says 0,
    # the 11-NN majority (6 vs 5) still says 0, a 13-NN would say 1 (6 vs 7).
    query = np.zeros((1, 2))
    near = np.zeros((6, 2))
    far = np.full((10, 2), 3.0)
    points, labels = np.concatenate([near, far]), np.array([0] * 6 + [1] * 10)
    assert knn_predict(points, labels, query)[0] == 0
    assert knn_predict(points, labels, query, k=13)[0] == 1
    # 5 near of class 0 vs 6 far of class 1: k=11 takes all 11 and votes 1.
    assert knn_predict(points[1:12], labels[1:12], query)[0] == 1
    assert knn_predict(points[1:12], labels[1:12], query, k=5)[0] == 0


def test_model_input_converts_grey_uint8_and_resizes() -> None:
    faces = np.full((2, 1, 48, 48), 255, dtype=np.uint8)
    batch = model_input(faces, in_channels=3, size=64)
    assert batch.shape == (2, 3, 64, 64) and batch.dtype == torch.float32
    assert torch.allclose(batch, torch.ones_like(batch))
    with pytest.raises(ValueError, match="2-channel"):
        model_input(torch.zeros(1, 2, 8, 8), in_channels=3, size=8)


@pytest.mark.parametrize("name", ["preactresnet18", "feratt_cls", "feratt_rep_cls"])
def test_evaluate_tiny_model_returns_every_key_in_range(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, embedding_dim=8, width=0.125)
    images = torch.randint(0, 256, (6, 1, 64, 64), dtype=torch.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2])
    train_images = torch.rand(9, 3, 64, 64)
    train_labels = np.repeat(np.arange(3), 3)
    model.train()
    result = evaluate(model, images, labels, CLASSES, train_images, train_labels, batch_size=4)
    assert model.training, "evaluate must restore the model's mode"

    predictors = ["cls", "knn"] if name == "feratt_rep_cls" else ["cls"]
    assert sorted(k for k in result if k in ("cls", "knn")) == predictors
    assert result["classes"] == list(CLASSES) and result["num_samples"] == 6
    with torch.no_grad():
        logits = model.eval()(model_input(images, 3)).logits
    assert_metrics_of(result["cls"], labels, logits.argmax(1).numpy())
    assert sorted(result["cls"]["per_class"]) == sorted(CLASSES)
    if name == "feratt_rep_cls":
        assert result["knn"]["k"] == 11

    predictions = predict_all(model, images, batch_size=4, keep_attention=True)
    assert predictions.logits.shape == (6, 3)
    if name == "preactresnet18":
        assert predictions.attention_images is None and predictions.embeddings is None
    else:
        assert predictions.attention_images.shape == (6, 3, 64, 64)
        assert predictions.attention_maps.shape == (6, 3, 64, 64)
    # Batching must not change the result (eval mode: BatchNorm uses running statistics).
    single = predict_all(model, images[:3], batch_size=1)
    torch.testing.assert_close(single.logits, predictions.logits[:3], atol=1e-4, rtol=1e-4)


def _faces(labels: list[int], subjects: list[str], classes: tuple[str, ...]) -> PreparedFaces:
    rng = np.random.default_rng(len(labels))
    masks = np.zeros((len(labels), 64, 64), bool)
    masks[:, 8:-8, 12:-12] = True
    return PreparedFaces(
        faces=rng.integers(1, 256, (len(labels), 1, 64, 64), dtype=np.uint8),
        masks=masks,
        labels=np.asarray(labels, np.int64),
        subjects=np.asarray(subjects),
        paths=np.asarray([f"face{i}.png" for i in range(len(labels))]),
        classes=classes,
    )


def test_evaluate_datamodule_writes_real_and_synthetic_records(tmp_path: Path) -> None:
    from feratt.engine.datamodule import FERAttDataModule
    from feratt.engine.protocol import evaluate_datamodule, remap_labels

    data_classes = ("happy", "sad")
    model_classes = ("neutral", "sad", "happy")  # the model knows more classes, in its own order
    np.testing.assert_array_equal(remap_labels([0, 1, 1], data_classes, model_classes), [2, 1, 1])
    with pytest.raises(ValueError, match=r"\['sad'\]"):
        remap_labels([0], data_classes, ("happy",))

    datamodule = FERAttDataModule.from_prepared(
        _faces([0, 1, 0, 1], ["a", "a", "b", "b"], data_classes),
        _faces([0, 1], ["c", "c"], data_classes),
        _faces([0, 1, 1], ["d", "d", "d"], data_classes),
        np.random.default_rng(0).integers(0, 256, (10, 80, 80), dtype=np.uint8),
        mode="real",
        batch_size=2,
        folds=4,
        fold=2,
    )
    torch.manual_seed(0)
    model = create_model("feratt_rep_cls", num_classes=3, embedding_dim=8, width=0.125)
    records = evaluate_datamodule(
        model, datamodule, tmp_path, classes=model_classes, attention_samples=2, device="cpu"
    )
    assert [(r["test"], r["fold"], r["num_samples"]) for r in records] == [
        ("real", 2, 3),
        ("synthetic", 2, 3),
    ]
    for record in records:
        assert record["knn"]["k"] == 11
        assert record["classes"] == list(model_classes)
        # True labels land on the model's indices: happy -> 2, sad -> 1, neutral absent.
        supports = {name: row["support"] for name, row in record["cls"]["per_class"].items()}
        assert supports == {"neutral": 0, "sad": 2, "happy": 1}
    written = sorted(p.name for p in tmp_path.iterdir())
    for kind in ("real", "synthetic"):
        for suffix in (".json", ".md", "_confusion_cls.png", "_confusion_knn.png"):
            assert f"{kind}{suffix}" in written
        assert f"{kind}_attention.png" in written and f"{kind}_embeddings.npz" in written


def _fer2013_faces(fer2013_dir: Path, split: str, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `per_class` crops of every class, prepared at 64 pixels: (N, 1, 64, 64) uint8."""
    images, labels = [], []
    for index, name in enumerate(EXPRESSIONS[:7]):
        folder = fer2013_dir / split / ("angry" if name == "anger" else name)
        for path in sorted(folder.glob("*.jpg"))[:per_class]:
            images.append(prepare_crop(load_image(path), None, 64))
            labels.append(index)
    return np.stack(images)[:, None], np.array(labels)


def test_evaluate_the_shipped_model_scores_its_own_predictions(
    shipped_weights: Path, fer2013_dir: Path
) -> None:
    model = load_checkpoint(shipped_weights).model
    images, labels = _fer2013_faces(fer2013_dir, "val", 6)
    train_images, train_labels = _fer2013_faces(fer2013_dir, "train", 6)
    result = evaluate(model, images, labels, EXPRESSIONS[:7], train_images, train_labels, 11, 16)
    assert result["num_samples"] == 42
    assert_record_of(result, model, images, labels, train_images, train_labels, k=11)
    assert result["cls"]["accuracy"] > 2 / 7  # trained: twice chance on 42 faces
