"""Probability calibration: one temperature T for the logits (Guo et al. 2017), the expected
calibration error and a reliability diagram, so that shipped probabilities mean what they say."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Reliability:
    """Per-bin confidence, accuracy and count of the predicted class (equal-width bins)."""

    edges: np.ndarray  # (B + 1,)
    confidence: np.ndarray  # (B,) mean top probability per bin (nan when empty)
    accuracy: np.ndarray  # (B,)
    counts: np.ndarray  # (B,)

    @property
    def ece(self) -> float:
        """Expected calibration error: count-weighted mean |accuracy - confidence| over bins."""
        filled = self.counts > 0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float((gaps * self.counts[filled]).sum() / self.counts.sum())


def reliability(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> Reliability:
    """Bin each sample's top probability and compare it with how often that class is right."""
    if len(probabilities) == 0 or len(probabilities) != len(labels):
        raise ValueError(f"{len(probabilities)} probability rows for {len(labels)} labels")
    confidence, predicted = probabilities.max(dim=1)
    correct = (predicted == labels).double().numpy()
    confidence = confidence.double().numpy()
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_conf = np.bincount(which, confidence, minlength=bins) / counts
        mean_acc = np.bincount(which, correct, minlength=bins) / counts
    return Reliability(edges, mean_conf, mean_acc, counts)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 that minimises the negative log-likelihood of softmax(logits / T) on `labels`.

    The NLL is convex in 1/T, so a bounded scalar search on log T finds the global minimum.
    """
    logits, labels = logits.double(), labels.long()

    def nll(log_t: float) -> float:
        return F.cross_entropy(logits / float(np.exp(log_t)), labels).item()

    low, high = np.log(0.05), np.log(20.0)
    golden = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = high - golden * (high - low), low + golden * (high - low)
    for _ in range(80):  # golden-section search: the bracket shrinks to ~1e-16 of its width
        if nll(a) < nll(b):
            high, b = b, a
            a = high - golden * (high - low)
        else:
            low, a = a, b
            b = low + golden * (high - low)
    return float(np.exp((low + high) / 2.0))


def plot_reliability(curves: dict[str, Reliability], path: str | Path) -> Path:
    """Reliability diagram (accuracy against confidence per bin) of each named curve, with ECE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for name, curve in curves.items():
        filled = curve.counts > 0
        axis.plot(
            curve.confidence[filled],
            curve.accuracy[filled],
            marker="o",
            label=f"{name} (ECE {100 * curve.ece:.1f}%)",
        )
    axis.set(xlabel="confidence (top probability)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
