"""Metrics against numbers worked out by hand from small confusion matrices."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import f1_score

from feratt.engine.metrics import classification_metrics, mean_std, paper_f1

CLASSES = ("happy", "sad", "anger", "fear")  # "fear" never occurs in the 3-class example

# Rows = true class, columns = predicted class; 12 samples, 7 on the diagonal.
CONFUSION = np.array(
    [
        [3, 1, 0, 0],
        [1, 2, 1, 0],
        [0, 2, 2, 0],
        [0, 0, 0, 0],
    ]
)


def _labels_from(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    true, pred = np.nonzero(confusion)
    counts = confusion[true, pred]
    return np.repeat(true, counts), np.repeat(pred, counts)


def test_metrics_match_hand_computed_values() -> None:
    y_true, y_pred = _labels_from(CONFUSION)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # absent class: no UndefinedMetricWarning spam
        m = classification_metrics(y_true, y_pred, CLASSES)

    # Precision by column: 3/4, 2/5, 2/3; recall by row: 3/4, 2/4, 2/4; "fear" is left out.
    assert m["accuracy"] == pytest.approx(7 / 12)
    assert m["precision"] == pytest.approx(109 / 180)  # (3/4 + 2/5 + 2/3) / 3
    assert m["recall"] == pytest.approx(7 / 12)  # (3/4 + 1/2 + 1/2) / 3
    assert m["f1"] == pytest.approx(22890 / 38520)  # 2PR/(P+R) of the macro values = 0.5942
    assert m["f1_macro"] == pytest.approx(445 / 756)  # mean of 3/4, 4/9, 4/7 = 0.5886
    assert m["f1"] != pytest.approx(m["f1_macro"], abs=1e-3)
    assert m["num_samples"] == 12
    assert m["confusion_matrix"] == CONFUSION.tolist()
    assert m["per_class"]["sad"] == pytest.approx(
        {"precision": 2 / 5, "recall": 1 / 2, "f1": 4 / 9, "support": 4}
    )
    assert m["per_class"]["fear"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert not any(np.isnan(v) for v in (m["precision"], m["recall"], m["f1"], m["f1_macro"]))


def test_class_only_predicted_counts_like_sklearn() -> None:
    y_true, y_pred = [0, 0], [0, 1]  # class 1 predicted but absent from y_true; class 2 unseen
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = classification_metrics(y_true, y_pred, ("happy", "sad", "anger"))
    assert m["precision"] == pytest.approx(0.5)  # (1 + 0) / 2
    assert m["recall"] == pytest.approx(0.25)  # (1/2 + 0) / 2
    assert m["f1_macro"] == pytest.approx(1 / 3)  # (2/3 + 0) / 2
    assert m["f1_macro"] == pytest.approx(
        f1_score(y_true, y_pred, average="macro", zero_division=0)
    )
    assert m["f1"] == pytest.approx(paper_f1(0.5, 0.25)) and paper_f1(0.0, 0.0) == 0.0


def test_bad_labels_are_rejected() -> None:
    with pytest.raises(ValueError, match="outside"):
        classification_metrics([0, 3], [0, 1], ("happy", "sad"))
    with pytest.raises(ValueError, match="empty"):
        classification_metrics([], [], ("happy",))


def test_mean_std_over_folds() -> None:
    folds = [{"accuracy": 0.5, "f1": 0.2}, {"accuracy": 0.7, "f1": 0.4}]
    summary = mean_std(folds, keys=("accuracy", "f1"))
    assert summary["accuracy"] == pytest.approx({"mean": 0.6, "std": 0.1, "n": 2})
    assert summary["f1"] == pytest.approx({"mean": 0.3, "std": 0.1, "n": 2})
