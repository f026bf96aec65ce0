"""Evaluation records on disk (JSON + Markdown + confusion PNG) and the paper-style results table.

An evaluation record is the dict `feratt.engine.evaluate.evaluate` returns, plus ``model``
(registry name), ``test`` ("real" or "synthetic") and optionally ``fold``; each of its predictors
("cls", and "knn" for Rep models) holds the metrics of `feratt.engine.metrics`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from feratt.engine.metrics import mean_std
from feratt.fileio import atomic_write, write_text

MODEL_TITLES: dict[str, str] = {
    "preactresnet18": "PreActResNet18",
    "feratt_cls": "FERAtt+Cls",
    "feratt_rep_cls": "FERAtt+Rep+Cls",
    "feratt_rep_cls_stn": "FERAtt+Rep+Cls+STN",
}
PREDICTORS: dict[str, str] = {"cls": "Cls (argmax)", "knn": "Rep (k-NN)"}
TESTS: tuple[str, ...] = ("real", "synthetic")
# Paper table columns: (metric key, header).
TABLE_METRICS: tuple[tuple[str, str], ...] = (
    ("accuracy", "Acc"),
    ("precision", "Prec"),
    ("recall", "Rec"),
    ("f1", "F1"),
)
_OVERALL = (*TABLE_METRICS, ("f1_macro", "macro-F1"))


def _percent(value: float) -> str:
    return f"{100.0 * value:.2f}"


def _markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def evaluation_markdown(record: dict[str, Any]) -> str:
    """Readable report of one evaluation: overall table, then a per-class table per predictor."""
    fold = f", fold {record['fold']}" if record.get("fold") is not None else ""
    title = MODEL_TITLES.get(record["model"], record["model"])
    lines = [f"# {title}: {record['test']} test{fold}", ""]
    lines += [f"{record['num_samples']} images, classes: {', '.join(record['classes'])}.", ""]
    predictors = [key for key in PREDICTORS if key in record]
    lines += _markdown_table(
        ["prediction", *(name for _, name in _OVERALL)],
        ([PREDICTORS[p], *(_percent(record[p][key]) for key, _ in _OVERALL)] for p in predictors),
    )
    lines += ["", "F1 = 2PR/(P+R) of the macro P and R (the paper's); macro-F1 is sklearn's.", ""]
    for predictor in predictors:
        lines += [f"## Per class, {PREDICTORS[predictor]}", ""]
        per_class = record[predictor]["per_class"]
        lines += _markdown_table(
            ["class", "Prec", "Rec", "F1", "support"],
            (
                [
                    name,
                    *(_percent(row[key]) for key in ("precision", "recall", "f1")),
                    str(row["support"]),
                ]
                for name, row in per_class.items()
            ),
        )
        lines.append("")
    return "\n".join(lines)


def write_evaluation(record: dict[str, Any], out_dir: str | Path, name: str) -> dict[str, Path]:
    """Write `name`.json, `name`.md and one confusion-matrix PNG per predictor into `out_dir`."""
    from feratt.engine.plots import plot_confusion_matrix

    missing = [
        key for key in ("model", "test", "classes", "num_samples", "cls") if key not in record
    ]
    if missing:
        raise ValueError(f"evaluation record lacks {missing}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / f"{name}.json", "markdown": out_dir / f"{name}.md"}
    write_text(paths["json"], json.dumps(record, indent=2) + "\n")
    write_text(paths["markdown"], evaluation_markdown(record))
    for predictor in PREDICTORS:
        if predictor in record:
            paths[f"confusion_{predictor}"] = plot_confusion_matrix(
                record[predictor]["confusion_matrix"],
                record["classes"],
                out_dir / f"{name}_confusion_{predictor}.png",
                title=f"{MODEL_TITLES.get(record['model'], record['model'])}, {record['test']}, "
                f"{PREDICTORS[predictor]}",
            )
    return paths


def is_evaluation(data: Any) -> bool:
    """Whether a parsed JSON document is an evaluation record."""
    return isinstance(data, dict) and all(key in data for key in ("model", "test", "cls"))


def load_evaluations(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Evaluation records from JSON files and from every ``*.json`` under run directories.

    Each record gets ``source`` (its file), so files it names (embeddings) can be found.
    """
    records = []
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(path.rglob("*.json"))
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(f"{path}: no such evaluation file or run directory")
        for file in files:
            try:
                data = json.loads(file.read_text())
            except json.JSONDecodeError as err:
                if path.is_file():
                    raise ValueError(f"{file}: not valid JSON ({err})") from err
                continue
            if is_evaluation(data):
                records.append({**data, "source": str(file)})
            elif path.is_file():
                raise ValueError(f"{file}: not an evaluation record (needs model, test and cls)")
    if not records:
        raise ValueError(f"no evaluation JSON found in {', '.join(map(str, paths))}")
    return records


def _row_keys(records: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(model, predictor) pairs in the paper's row order, then any other model by name."""
    present = {(r["model"], p) for r in records for p in PREDICTORS if p in r}
    order = [*MODEL_TITLES, *sorted({m for m, _ in present} - set(MODEL_TITLES))]
    return [(m, p) for m in order for p in PREDICTORS if (m, p) in present]


def _check_unique_folds(records: Sequence[dict[str, Any]]) -> None:
    """Raise when one fold of one model and test set is given twice (it would skew mean ± std)."""
    seen: dict[tuple, str] = {}
    for record in records:
        if record.get("fold") is None:
            continue  # unnumbered evaluations (e.g. several seeds) are all averaged
        key = (record["model"], record["test"], record["fold"])
        source = record.get("source", "an evaluation")
        if key in seen:
            raise ValueError(
                f"{key[0]} {key[1]} fold {key[2]} is evaluated twice ({seen[key]} and {source}); "
                "pass one evaluation per fold"
            )
        seen[key] = source


def paper_table(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the paper's table: mean, std and fold count of each test x metric per model.

    Returns one dict per (model, predictor) with ``model``, ``predictor``, ``title`` and, for each
    test set present, ``test -> {metric: {"mean", "std", "n"}}``.
    """
    _check_unique_folds(records)
    rows = []
    for model, predictor in _row_keys(records):
        title = MODEL_TITLES.get(model, model)
        row: dict[str, Any] = {"model": model, "predictor": predictor, "title": title}
        if predictor != "cls":
            row["title"] = f"{title} (k-NN)"
        for test in TESTS:
            same = [r for r in records if (r["model"], r["test"]) == (model, test)]
            folds = [r[predictor] for r in same if predictor in r]
            if folds:
                row[test] = mean_std(folds, keys=[key for key, _ in TABLE_METRICS])
        rows.append(row)
    return rows


def _cell(summary: dict[str, float] | None) -> str:
    if summary is None:
        return "–"
    if summary["n"] == 1:
        return _percent(summary["mean"])
    return f"{_percent(summary['mean'])} ± {_percent(summary['std'])}"


def paper_table_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The paper-style Markdown table: models x (Real, Synthetic) x (Acc, Prec, Rec, F1), in %."""
    header = [
        "model",
        *(f"{test.capitalize()} {name}" for test in TESTS for _, name in TABLE_METRICS),
    ]
    body = (
        [
            row["title"],
            *(_cell(row.get(test, {}).get(key)) for test in TESTS for key, _ in TABLE_METRICS),
        ]
        for row in rows
    )
    folds = sorted({s["n"] for row in rows for test in TESTS for s in row.get(test, {}).values()})
    note = "Values in %; mean ± std (population) over folds" if folds != [1] else "Values in %"
    lines = _markdown_table(header, body)
    lines += ["", f"{note}; F1 = 2PR/(P+R) of the macro P and R (the paper's definition).", ""]
    return "\n".join(lines)


def write_paper_table(rows: Sequence[dict[str, Any]], out_dir: str | Path) -> dict[str, Path]:
    """Write results.md and results.csv (mean and std in %, and the fold count, per cell)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "results.md", "csv": out_dir / "results.csv"}
    write_text(paths["markdown"], paper_table_markdown(rows))
    with atomic_write(paths["csv"], newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "predictor", "test", "metric", "mean", "std", "folds"])
        for row in rows:
            for test in TESTS:
                for key, summary in row.get(test, {}).items():
                    writer.writerow(
                        [row["model"], row["predictor"], test, key,
                         round(100 * summary["mean"], 4), round(100 * summary["std"], 4),
                         summary["n"]]
                    )  # fmt: skip
    return paths


def save_embeddings(path: str | Path, embeddings: Any, labels: Any, classes: Sequence[str]) -> Path:
    """Store test embeddings (N, d) and their labels for t-SNE plots (`feratt report`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as handle:  # a file handle keeps numpy from appending ".npz"
        np.savez_compressed(
            handle,
            embeddings=np.asarray(embeddings, dtype=np.float32),
            labels=np.asarray(labels, dtype=np.int64),
            classes=np.asarray(classes),
        )
    return path


def load_embeddings(path: str | Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(embeddings, labels, classes) saved by `save_embeddings`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such embeddings file")
    with np.load(path) as data:
        return data["embeddings"], data["labels"], tuple(str(c) for c in data["classes"])


def write_tsne_plots(records: Sequence[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """A t-SNE PNG for every record that saved its embeddings.

    ``embeddings`` in a record is a .npz path, relative to its ``source`` file when it has one.
    """
    from feratt.engine.plots import plot_tsne

    written = []
    for record in records:
        if not record.get("embeddings"):
            continue
        path = Path(record["embeddings"])
        if not path.is_absolute() and record.get("source"):
            path = Path(record["source"]).parent / path
        embeddings, labels, classes = load_embeddings(path)
        fold = f"_fold{record['fold']}" if record.get("fold") is not None else ""
        title = f"{MODEL_TITLES.get(record['model'], record['model'])}, {record['test']}{fold}"
        name = f"tsne_{record['model']}_{record['test']}{fold}.png"
        written.append(plot_tsne(embeddings, labels, classes, Path(out_dir) / name, title=title))
    return written


def fold_accuracies(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str], dict[int, float]]:
    """Accuracy of every numbered fold: (row title, test) -> {fold: accuracy}, in table order."""
    _check_unique_folds(records)
    table: dict[tuple[str, str], dict[int, float]] = {}
    for model, predictor in _row_keys(records):
        title = MODEL_TITLES.get(model, model) + ("" if predictor == "cls" else " (k-NN)")
        for test in TESTS:
            folds = {
                int(r["fold"]): float(r[predictor]["accuracy"])
                for r in records
                if (r["model"], r["test"]) == (model, test)
                and predictor in r
                and r.get("fold") is not None
            }
            if folds:
                table[(title, test)] = dict(sorted(folds.items()))
    return table


def fold_table_markdown(accuracies: dict[tuple[str, str], dict[int, float]]) -> str:
    """Accuracy (%) per fold, one row per model, predictor and test set."""
    folds = sorted({k for row in accuracies.values() for k in row})
    header = ["model", "test", *(f"fold {k}" for k in folds)]
    body = (
        [title, test, *(_percent(row[k]) if k in row else "–" for k in folds)]
        for (title, test), row in accuracies.items()
    )
    return "\n".join([*_markdown_table(header, body), ""])


def write_fold_report(records: Sequence[dict[str, Any]], out_dir: str | Path) -> dict[str, Path]:
    """folds.md (accuracy per fold) and fold_accuracy.png; nothing when no record has a fold."""
    from feratt.engine.plots import plot_fold_accuracies

    accuracies = fold_accuracies(records)
    if not accuracies:
        return {}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = out_dir / "folds.md"
    write_text(table, fold_table_markdown(accuracies))
    figure = plot_fold_accuracies(accuracies, out_dir / "fold_accuracy.png")
    return {"folds": table, "fold_figure": figure}
