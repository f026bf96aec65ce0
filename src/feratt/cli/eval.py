"""`feratt eval`: score a checkpoint on a real (and synthetic) test set; JSON, Markdown, PNGs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from feratt.config import DataConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a checkpoint: metrics, per-class table, confusion matrix, k-NN",
        description="Evaluate a checkpoint (feratt .pt or Lightning .ckpt) on the test faces of "
        "a data set: a shipped split (--split) or a subject-independent fold (--fold/--folds). "
        "Data settings default to the ones the checkpoint was trained with, when it records them "
        "and --data does not name another data set.",
    )
    parser.add_argument("--checkpoint", required=True, type=Path, help="model checkpoint")
    parser.add_argument("--data", help="data set folder or file (default: the training run's)")
    parser.add_argument("--format", help="data set format (default: detected)")
    parser.add_argument("--split", help="the data set's test split, e.g. test or val")
    parser.add_argument(
        "--train-split", default="train", help="split whose embeddings k-NN uses (with --split)"
    )
    parser.add_argument("--fold", type=int, help="k-fold test block (with --folds)")
    parser.add_argument("--folds", type=int, help="number of subject-independent folds")
    parser.add_argument(
        "--synthetic", action="store_true", help="also evaluate the synthetic test set"
    )
    parser.add_argument("--backgrounds", help="background photos for --synthetic")
    parser.add_argument("--seed", type=int, help="seed of the fold and background splits")
    parser.add_argument("--cache", help="prepared-face cache folder")
    parser.add_argument("--k", type=int, default=11, help="neighbours of the k-NN prediction")
    parser.add_argument(
        "--knn-reference",
        type=int,
        metavar="N",
        help="k-NN over the embeddings of N training faces, a fixed random sample (default: all; "
        "embedding all 27k FER2013 training faces takes minutes on a CPU)",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1...")
    parser.add_argument(
        "--out", type=Path, help="output folder (default: eval-<checkpoint> beside it)"
    )
    parser.set_defaults(func=run)


def data_config(args: argparse.Namespace, trained: dict[str, Any] | None) -> DataConfig:
    """The DataConfig of the test: the training run's (unless --data names another data set)
    with the flags on top."""
    trained = trained or {}
    settings = dict(trained) if args.data in (None, trained.get("path")) else {}
    flags = {"path": args.data, "format": args.format, "seed": args.seed, "cache_dir": args.cache}
    settings.update({key: value for key, value in flags.items() if value is not None})
    if args.split is not None:
        settings.update(test_split=args.split, train_split=args.train_split, val_split=None)
        settings.update(folds=0, fold=0)
    if args.folds is not None or args.fold is not None:
        settings.update(folds=args.folds or settings.get("folds", 0), fold=args.fold or 0)
        settings.update(test_split=None)
    if args.synthetic:
        settings["backgrounds"] = args.backgrounds or settings.get("backgrounds")
        if settings["backgrounds"] is None:
            raise ValueError("--synthetic needs --backgrounds (the run recorded none)")
    else:
        settings["backgrounds"] = None  # no compositing: skip loading the photos
        settings["mode"] = "real"
    if settings.get("path") is None:
        raise ValueError(f"{args.checkpoint}: the checkpoint records no data set; give --data")
    if not settings.get("folds") and not settings.get("test_split"):
        raise ValueError("no test set: give --split NAME or --fold K --folds N")
    return DataConfig(**settings)


def run(args: argparse.Namespace) -> int:
    from feratt.checkpoint import load_checkpoint
    from feratt.engine.datamodule import FERAttDataModule
    from feratt.engine.protocol import evaluate_datamodule

    checkpoint = load_checkpoint(args.checkpoint)
    model = checkpoint.model
    run_config = checkpoint.metadata.get("config", {})
    data = data_config(args, run_config.get("data"))
    data.check_paths()
    # The synthetic test images are drawn from the training seed, as `feratt cv` draws them.
    seed = run_config.get("train", {}).get("seed", data.seed)
    datamodule = FERAttDataModule(
        data, size=model.config.input_size, channels=model.config.in_channels, seed=seed
    )
    out = args.out or args.checkpoint.parent / f"eval-{args.checkpoint.stem}"
    out.mkdir(parents=True, exist_ok=True)  # an unwritable --out fails before the evaluation
    datamodule.setup("test")
    records = evaluate_datamodule(
        model,
        datamodule,
        out,
        classes=checkpoint.classes,
        synthetic=args.synthetic,
        k=args.k,
        knn_reference=args.knn_reference,
        batch_size=args.batch_size,
        device=args.device,
        provenance={
            "checkpoint": str(args.checkpoint),
            "data": data.path,
            "split": data.test_split,
        },
    )
    for record in records:
        line = f"{record['test']:>9}: {record['num_samples']} images"
        for predictor in ("cls", "knn"):
            if predictor in record:
                m = record[predictor]
                line += (
                    f" | {predictor} acc {100 * m['accuracy']:.2f} prec {100 * m['precision']:.2f}"
                    f" rec {100 * m['recall']:.2f} F1 {100 * m['f1']:.2f}"
                )
        print(line)
    print(f"results in {out}")
    return 0
