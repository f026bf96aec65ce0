"""Subject-independent k-fold cross-validation: train and evaluate each fold, then mean ± std.

Fold k of experiment ``name`` lives in ``output_dir/name/fold<k>`` (the training run) with its
evaluation in ``fold<k>/eval``; a fold whose evaluation is written is done and is skipped on a
rerun, and an interrupted fold resumes from its last training checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from feratt.config import ExperimentConfig
from feratt.engine.datamodule import FERAttDataModule
from feratt.engine.experiment import fit_and_evaluate
from feratt.engine.reporting import load_evaluations, paper_table, write_paper_table
from feratt.fileio import write_text

EVAL_DIR = "eval"


def cv_dir(config: ExperimentConfig) -> Path:
    """The folder holding every fold of the experiment and its summary."""
    return Path(config.output_dir).expanduser() / config.name


def fold_config(config: ExperimentConfig, fold: int) -> ExperimentConfig:
    """`config` with fold `fold` as its test block."""
    return config.replace(f"data.fold={fold}")


def _expected_files(config: ExperimentConfig) -> list[Path]:
    tests = ["real"] + (["synthetic"] if config.data.backgrounds is not None else [])
    return [config.run_dir / EVAL_DIR / f"{test}.json" for test in tests]


def fold_done(config: ExperimentConfig) -> bool:
    """Whether the fold of `config` has all its evaluation records."""
    return all(path.is_file() for path in _expected_files(config))


def run_fold(config: ExperimentConfig) -> list[dict[str, Any]]:
    """Train the fold of `config` (resuming when interrupted), then evaluate its best model."""
    datamodule = FERAttDataModule(
        config.data,
        size=config.model.input_size,
        channels=config.model.in_channels,
        seed=config.train.seed,
    )
    return fit_and_evaluate(
        config,
        datamodule,
        config.run_dir / EVAL_DIR,
        batch_size=config.data.batch_size,
        device="cpu" if config.train.accelerator == "cpu" else "auto",
        provenance={"data": config.data.path},
    ).records


def summarise(config: ExperimentConfig) -> list[dict[str, Any]]:
    """Mean ± std over the evaluated folds: results.md, results.csv and cv_summary.json."""
    root = cv_dir(config)
    folders = sorted(p for p in root.glob(f"fold*/{EVAL_DIR}") if p.is_dir())
    rows = paper_table(load_evaluations(folders))
    write_paper_table(rows, root)
    folds = sorted(int(p.parent.name.removeprefix("fold")) for p in folders)
    summary = {"name": config.name, "folds": config.data.folds, "evaluated": folds, "rows": rows}
    write_text(root / "cv_summary.json", json.dumps(summary, indent=2) + "\n")
    return rows


def cross_validate(
    config: ExperimentConfig,
    only: Iterable[int] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run every fold of `config` (or the `only` ones) that is not done yet; return the summary.

    Args:
        config: an experiment with ``data.folds`` >= 2.
        only: fold indices to run (default: all); summaries cover every evaluated fold.
        log: progress messages.
    """
    folds = config.data.folds
    if folds < 2:
        raise ValueError(f"cross-validation needs data.folds >= 2, got {folds}")
    chosen = sorted(set(range(folds) if only is None else only))
    outside = [k for k in chosen if not 0 <= k < folds]
    if outside:
        raise ValueError(f"fold(s) {outside} outside 0..{folds - 1}")
    for fold in chosen:
        fold_cfg = fold_config(config, fold)
        if fold_done(fold_cfg):
            log(f"fold {fold}/{folds}: already evaluated in {fold_cfg.run_dir / EVAL_DIR}, skipped")
            continue
        log(f"fold {fold}/{folds}: training in {fold_cfg.run_dir}")
        for record in run_fold(fold_cfg):
            log(f"fold {fold}/{folds}: {record['test']} accuracy {record['cls']['accuracy']:.4f}")
    return summarise(config)
