"""Classification metrics as the paper reports them (SPEC section 4), plus fold summaries.

Macro averages run over the classes that occur in ``y_true`` or ``y_pred`` (scikit-learn's own
default), so a class a test fold lacks entirely neither drags the averages down nor yields NaN;
undefined ratios (0/0) count as 0, as ``zero_division=0`` does in scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

# The headline numbers, in the order the reports print them.
SUMMARY_KEYS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "f1_macro")


def paper_f1(precision: float, recall: float) -> float:
    """F1 = 2PR / (P + R) of the macro precision and recall (the paper's definition)."""
    total = precision + recall
    return 2.0 * precision * recall / total if total > 0 else 0.0


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    classes: Sequence[str],
) -> dict[str, Any]:
    """Accuracy, macro P/R, paper F1, sklearn macro-F1, per-class table and confusion matrix.

    Args:
        y_true: true label indices into ``classes``.
        y_pred: predicted label indices into ``classes``.
        classes: class names; the confusion matrix is ``len(classes)`` square.

    Returns:
        A JSON-ready dict: ``accuracy``, ``precision``, ``recall``, ``f1`` (paper), ``f1_macro``
        (sklearn), ``num_samples``, ``per_class`` ({name: {precision, recall, f1, support}}) and
        ``confusion_matrix`` (rows = true class, columns = predicted class).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(
            f"y_true {y_true.shape} and y_pred {y_pred.shape} must be equal 1-D shapes"
        )
    if len(y_true) == 0:
        raise ValueError("cannot compute metrics on an empty test set")
    num_classes = len(classes)
    out_of_range = np.concatenate([y_true, y_pred])
    out_of_range = out_of_range[(out_of_range < 0) | (out_of_range >= num_classes)]
    if out_of_range.size:
        raise ValueError(f"label {out_of_range[0]} is outside the {num_classes} classes {classes}")

    every = np.arange(num_classes)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=every, zero_division=0
    )
    seen = np.isin(every, np.union1d(y_true, y_pred))
    macro_precision = float(precision[seen].mean())
    macro_recall = float(recall[seen].mean())
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "precision": macro_precision,
        "recall": macro_recall,
        "f1": paper_f1(macro_precision, macro_recall),
        "f1_macro": float(f1[seen].mean()),
        "num_samples": len(y_true),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(classes)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=every).tolist(),
    }


def mean_std(metrics: Sequence[dict[str, Any]], keys: Sequence[str] = SUMMARY_KEYS) -> dict:
    """Mean and population standard deviation of each headline metric over folds.

    Returns ``{key: {"mean": m, "std": s, "n": folds}}`` for every key in ``keys``.
    """
    if not metrics:
        raise ValueError("no metrics to summarise")
    summary = {}
    for key in keys:
        values = np.array([m[key] for m in metrics], dtype=np.float64)
        summary[key] = {"mean": float(values.mean()), "std": float(values.std()), "n": len(values)}
    return summary
