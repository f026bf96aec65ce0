"""Figures for reports: confusion matrix, t-SNE of embeddings, attention grid, loss curves."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window (headless servers, CI)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402


def _save(figure: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]] | np.ndarray,
    classes: Sequence[str],
    path: str | Path,
    title: str = "",
) -> Path:
    """Confusion matrix (rows true, columns predicted), shaded by row rate, with counts."""
    counts = np.asarray(matrix, dtype=np.int64)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 1.0 + 0.6 * len(classes)
    figure, axes = plt.subplots(figsize=(size + 1.0, size))
    image = axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, label="fraction of true class")
    ticks = np.arange(len(classes))
    axes.set_xticks(ticks, classes, rotation=45, ha="right")
    axes.set_yticks(ticks, classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for (row, column), count in np.ndenumerate(counts):
        colour = "white" if rates[row, column] > 0.5 else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=8)
    if title:
        axes.set_title(title)
    return _save(figure, path)


def plot_tsne(
    embeddings: np.ndarray | torch.Tensor,
    labels: Sequence[int] | np.ndarray,
    classes: Sequence[str],
    path: str | Path,
    title: str = "",
    seed: int = 0,
) -> Path:
    """2-D t-SNE of embeddings (N, d), one colour per class."""
    points = np.asarray(embeddings, dtype=np.float32)
    labels = np.asarray(labels)
    if len(points) < 3:
        raise ValueError(f"t-SNE needs at least 3 embeddings, got {len(points)}")
    # Perplexity must stay below the number of points; 30 is sklearn's default.
    perplexity = min(30.0, (len(points) - 1) / 3.0)
    xy = TSNE(perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)
    figure, axes = plt.subplots(figsize=(6, 5))
    colours = plt.get_cmap("tab10")
    for index, name in enumerate(classes):
        chosen = labels == index
        if chosen.any():
            axes.scatter(*xy[chosen].T, s=10, color=colours(index % 10), label=name)
    axes.legend(markerscale=2, fontsize=8, loc="best")
    axes.set_xticks([])
    axes.set_yticks([])
    if title:
        axes.set_title(title)
    return _save(figure, path)


def plot_fold_accuracies(
    accuracies: dict[tuple[str, str], dict[int, float]], path: str | Path
) -> Path:
    """Grouped bars of accuracy per fold, one panel per test set, one colour per model row."""
    tests = list(dict.fromkeys(test for _, test in accuracies))
    folds = sorted({k for row in accuracies.values() for k in row})
    titles = list(dict.fromkeys(title for title, _ in accuracies))
    figure, panels = plt.subplots(
        len(tests), 1, figsize=(1.2 + 0.55 * len(folds) * max(1, len(titles)) / 2, 3 * len(tests)),
        squeeze=False, sharex=True,
    )  # fmt: skip
    width = 0.8 / len(titles)
    for axes, test in zip(panels[:, 0], tests, strict=True):
        for i, title in enumerate(titles):
            row = accuracies.get((title, test), {})
            x = (
                np.asarray([folds.index(k) for k in row], float)
                + (i - (len(titles) - 1) / 2) * width
            )
            axes.bar(x, [100 * v for v in row.values()], width, label=title)
        axes.set_ylabel(f"{test} accuracy (%)")
        axes.set_ylim(0, 100)
        axes.grid(axis="y", alpha=0.3)
    panels[-1, 0].set_xticks(range(len(folds)), [str(k) for k in folds])
    panels[-1, 0].set_xlabel("fold")
    panels[0, 0].legend(
        loc="lower left", bbox_to_anchor=(0, 1.02), fontsize="small", ncol=min(3, len(titles))
    )
    return _save(figure, path)


def _as_image(tensor: torch.Tensor) -> np.ndarray:
    """(C, H, W) float in [0, 1] -> what imshow takes (H, W) or (H, W, 3)."""
    array = tensor.detach().float().clamp(0, 1).cpu().numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def plot_attention_grid(
    images: torch.Tensor,
    attention_images: torch.Tensor,
    attention_maps: torch.Tensor,
    path: str | Path,
    channels: Sequence[int] | None = None,
    titles: Sequence[str] | None = None,
    aligned_images: torch.Tensor | None = None,
) -> Path:
    """One row per sample: input | attention image I_att | sigmoid(A) overlaid on the input
    [| the aligned I_att G_rep classified, for models that align it].

    Args:
        images: (N, C, H, W) float [0, 1] model inputs.
        attention_images: (N, 3, H, W) I_att.
        attention_maps: (N, K, H, W) A (logits).
        channels: the channel of A to show per sample (e.g. the predicted class); default:
            the maximum over classes.
        titles: a caption per row (e.g. "happy -> sad", true -> predicted).
        aligned_images: (N, 3, H, W) I_att resampled by the model's alignment, or None.
    """
    count = len(images)
    columns = 3 if aligned_images is None else 4
    figure, axes = plt.subplots(count, columns, figsize=(2 * columns, 2 * count), squeeze=False)
    attention = torch.sigmoid(attention_maps.float())
    for row in range(count):
        heat = attention[row].amax(0) if channels is None else attention[row, channels[row]]
        panels = (
            (_as_image(images[row]), "input"),
            (_as_image(attention_images[row]), "attention image"),
            (_as_image(images[row]), "attention map"),
        )
        if aligned_images is not None:
            panels += ((_as_image(aligned_images[row]), "aligned (G_rep's input)"),)
        for column, (picture, name) in enumerate(panels):
            axes[row, column].imshow(picture, cmap="gray", vmin=0.0, vmax=1.0)
            axes[row, column].set_axis_off()
            if row == 0:
                axes[row, column].set_title(name, fontsize=9)
        axes[row, 2].imshow(heat.cpu().numpy(), cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0)
        if titles is not None:
            axes[row, 0].set_ylabel(titles[row], fontsize=8)
            axes[row, 0].set_axis_on()
            axes[row, 0].set_xticks([])
            axes[row, 0].set_yticks([])
    return _save(figure, path)


def read_csv_log(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """(step, value) series of every metric in a run's Lightning CSV logs
    (``csv/version_*/metrics.csv``, versions in order), empty cells skipped."""
    series: dict[str, list[tuple[int, float]]] = {}
    logs = Path(run_dir).glob("csv/version_*/metrics.csv")
    # In the order the versions were written: version_10 after version_9, not after version_1.
    for log in sorted(logs, key=lambda p: int(p.parent.name.removeprefix("version_"))):
        with log.open() as handle:
            for row in csv.DictReader(handle):
                for key, value in row.items():
                    if key not in ("epoch", "step") and value:
                        series.setdefault(key, []).append((int(row["step"]), float(value)))
    return series


def plot_curves(runs: dict[str, Path], path: str | Path) -> Path:
    """Training loss terms per step and validation accuracy per epoch from Lightning CSV logs.

    `runs` maps a legend title to a run folder; one colour per run.
    """
    figure, (losses, accuracy) = plt.subplots(1, 2, figsize=(11, 4))
    for colour, (title, run_dir) in enumerate(runs.items()):
        series = read_csv_log(run_dir)
        for style, term in zip(("-", "--", ":", "-."), ("loss", "cls", "att", "rep"), strict=True):
            points = series.get(f"train/{term}_step")
            if points:
                steps, values = zip(*points, strict=True)
                losses.plot(steps, values, style, color=f"C{colour}", label=f"{title} {term}")
        points = series.get("val/acc")
        if points:
            steps, values = zip(*points, strict=True)
            accuracy.plot(steps, np.multiply(values, 100), "o-", color=f"C{colour}", label=title)
    losses.set(xlabel="step", ylabel="training loss", yscale="log", title="training losses")
    accuracy.set(xlabel="step", ylabel="accuracy (%)", title="validation accuracy")
    for axes in (losses, accuracy):
        axes.legend(fontsize=7)
    return _save(figure, path)
