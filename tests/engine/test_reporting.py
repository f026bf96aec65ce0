"""Reports: the paper table from hand-written evaluation JSONs, Markdown, CSV and figures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch

from feratt.engine.metrics import classification_metrics
from feratt.engine.plots import plot_attention_grid, plot_tsne
from feratt.engine.reporting import (
    fold_accuracies,
    load_embeddings,
    load_evaluations,
    paper_table,
    paper_table_markdown,
    save_embeddings,
    write_evaluation,
    write_fold_report,
    write_paper_table,
)


def _headline(acc: float, prec: float, rec: float, f1: float) -> dict[str, float]:
    return {"accuracy": acc, "precision": prec, "recall": rec, "f1": f1}


def _write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def _assert_not_blank(path: Path) -> None:
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 50
    assert pixels[..., :3].std() > 0.05, f"{path} looks blank"


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """Two baseline folds (real only) and one Rep model fold (real + synthetic, with k-NN)."""
    _write(
        tmp_path / "base/fold_0/real.json",
        {
            "model": "preactresnet18",
            "test": "real",
            "fold": 0,
            "cls": _headline(0.8, 0.7, 0.6, 0.65),
        },
    )
    _write(
        tmp_path / "base/fold_1/real.json",
        {
            "model": "preactresnet18",
            "test": "real",
            "fold": 1,
            "cls": _headline(0.9, 0.8, 0.8, 0.8),
        },
    )
    _write(tmp_path / "base/cv_summary.json", {"folds": 2})  # not an evaluation: skipped
    rep = {"model": "feratt_rep_cls", "fold": 0}
    _write(
        tmp_path / "rep/real.json",
        {**rep, "test": "real", "cls": _headline(0.5, 0.5, 0.5, 0.5),
         "knn": _headline(0.6, 0.6, 0.6, 0.6)},
    )  # fmt: skip
    _write(
        tmp_path / "rep/synthetic.json",
        {**rep, "test": "synthetic", "cls": _headline(0.25, 0.2, 0.3, 0.24),
         "knn": _headline(0.3, 0.3, 0.3, 0.3)},
    )  # fmt: skip
    return tmp_path


def test_paper_table_layout_and_mean_std(runs: Path) -> None:
    records = load_evaluations([runs / "base", runs / "rep/real.json", runs / "rep/synthetic.json"])
    assert len(records) == 4
    rows = paper_table(records)
    assert [r["title"] for r in rows] == [
        "PreActResNet18",
        "FERAtt+Rep+Cls",
        "FERAtt+Rep+Cls (k-NN)",
    ]
    assert rows[0]["real"]["accuracy"] == pytest.approx({"mean": 0.85, "std": 0.05, "n": 2})
    assert "synthetic" not in rows[0]

    lines = paper_table_markdown(rows).splitlines()
    assert lines[0] == (
        "| model | Real Acc | Real Prec | Real Rec | Real F1 "
        "| Synthetic Acc | Synthetic Prec | Synthetic Rec | Synthetic F1 |"
    )
    assert lines[2] == (
        "| PreActResNet18 | 85.00 ± 5.00 | 75.00 ± 5.00 | 70.00 ± 10.00 | 72.50 ± 7.50 "
        "| – | – | – | – |"
    )
    assert lines[3] == (
        "| FERAtt+Rep+Cls | 50.00 | 50.00 | 50.00 | 50.00 | 25.00 | 20.00 | 30.00 | 24.00 |"
    )
    assert lines[4].startswith("| FERAtt+Rep+Cls (k-NN) | 60.00 |")

    paths = write_paper_table(rows, runs / "report")
    with paths["csv"].open() as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 4 + 8 + 8  # baseline real only; Rep rows real + synthetic
    first = table[0]
    assert (first["model"], first["predictor"], first["test"], first["metric"]) == (
        "preactresnet18", "cls", "real", "accuracy"
    )  # fmt: skip
    assert (float(first["mean"]), float(first["std"]), int(first["folds"])) == (85.0, 5.0, 2)
    assert paths["markdown"].read_text().startswith("| model | Real Acc")


def test_paper_table_refuses_a_fold_given_twice(runs: Path) -> None:
    records = load_evaluations([runs / "base", runs / "base/fold_1/real.json"])
    with pytest.raises(ValueError, match="preactresnet18 real fold 1 is evaluated twice"):
        paper_table(records)


def test_load_evaluations_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_evaluations([tmp_path / "missing.json"])
    _write(tmp_path / "other.json", {"folds": 2})
    with pytest.raises(ValueError, match="other.json: not an evaluation"):
        load_evaluations([tmp_path / "other.json"])
    with pytest.raises(ValueError, match="no evaluation JSON"):
        load_evaluations([tmp_path])


def test_write_evaluation_json_markdown_and_confusion_png(tmp_path: Path) -> None:
    classes = ("happy", "sad", "anger")
    y_true, y_pred = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]
    record = {
        "model": "feratt_rep_cls",
        "test": "synthetic",
        "fold": 3,
        "classes": list(classes),
        "num_samples": 6,
        "cls": classification_metrics(y_true, y_pred, classes),
        "knn": classification_metrics(y_true, y_true, classes),
    }
    paths = write_evaluation(record, tmp_path, "synthetic")
    assert json.loads(paths["json"].read_text()) == record
    markdown = paths["markdown"].read_text()
    assert markdown.startswith("# FERAtt+Rep+Cls: synthetic test, fold 3")
    assert "| Cls (argmax) | 66.67 |" in markdown and "| Rep (k-NN) | 100.00 |" in markdown
    assert "| sad | 66.67 | 100.00 | 80.00 | 2 |" in markdown
    for key in ("confusion_cls", "confusion_knn"):
        _assert_not_blank(paths[key])
    with pytest.raises(ValueError, match="lacks"):
        write_evaluation({"model": "x"}, tmp_path, "bad")


def test_tsne_and_attention_grid_pngs(tmp_path: Path) -> None:
    generator = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    embeddings = generator.normal(size=(30, 8)) + 5 * labels[:, None]
    path = save_embeddings(tmp_path / "emb.npz", embeddings, labels, ("happy", "sad", "anger"))
    loaded, loaded_labels, classes = load_embeddings(path)
    assert loaded.shape == (30, 8) and classes == ("happy", "sad", "anger")
    _assert_not_blank(plot_tsne(loaded, loaded_labels, classes, tmp_path / "tsne.png"))

    images = torch.rand(2, 3, 32, 32)
    grid = plot_attention_grid(
        images, images.flip(-1), torch.randn(2, 4, 32, 32), tmp_path / "grid.png",
        channels=[0, 3], titles=["true happy", "true sad"],
    )  # fmt: skip
    _assert_not_blank(grid)
    aligned = plot_attention_grid(
        images, images.flip(-1), torch.randn(2, 4, 32, 32), tmp_path / "aligned.png",
        aligned_images=images.flip(-2),
    )  # fmt: skip
    widths = [matplotlib.image.imread(p).shape[1] for p in (grid, aligned)]
    assert widths[1] / widths[0] == pytest.approx(4 / 3, rel=0.05)  # a fourth column


def test_fold_report_lists_every_fold_of_every_row_and_draws_them(
    runs: Path, tmp_path: Path
) -> None:
    records = load_evaluations([runs / "base", runs / "rep"])
    assert fold_accuracies(records) == {
        ("PreActResNet18", "real"): {0: 0.8, 1: 0.9},
        ("FERAtt+Rep+Cls", "real"): {0: 0.5},
        ("FERAtt+Rep+Cls", "synthetic"): {0: 0.25},
        ("FERAtt+Rep+Cls (k-NN)", "real"): {0: 0.6},
        ("FERAtt+Rep+Cls (k-NN)", "synthetic"): {0: 0.3},
    }
    paths = write_fold_report(records, tmp_path / "report")
    lines = paths["folds"].read_text().splitlines()
    assert lines[0] == "| model | test | fold 0 | fold 1 |"
    assert "| PreActResNet18 | real | 80.00 | 90.00 |" in lines
    assert "| FERAtt+Rep+Cls | synthetic | 25.00 | – |" in lines
    _assert_not_blank(paths["fold_figure"])
    unnumbered = [{**r, "fold": None} for r in records]
    assert write_fold_report(unnumbered, tmp_path / "none") == {}
