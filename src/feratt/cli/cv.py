"""`feratt cv`: subject-independent k-fold cross-validation of one experiment config."""

from __future__ import annotations

import argparse


def _fold_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"--only takes fold numbers like 0,1,2; got {text!r}"
        ) from err


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cv",
        help="k-fold cross-validation: train + evaluate each fold, mean ± std",
        description="Train and evaluate (real and, with backgrounds, synthetic test) every "
        "subject-independent fold of a config, then write the mean ± std table. Folds already "
        "evaluated are skipped, so an interrupted run continues where it stopped.",
    )
    parser.add_argument(
        "--config", required=True, help="experiment YAML, or the name of a packaged config"
    )
    parser.add_argument("--folds", type=int, help="number of folds (default: data.folds)")
    parser.add_argument("--only", type=_fold_list, help="run only these folds, e.g. 0,1")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides, e.g. train.max_epochs=5",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feratt.config import load_config
    from feratt.engine.crossval import cross_validate, cv_dir
    from feratt.engine.reporting import paper_table_markdown

    folds = [] if args.folds is None else [f"data.folds={args.folds}"]
    config = load_config(args.config, [*args.overrides, *folds])
    rows = cross_validate(config, only=args.only)
    print(paper_table_markdown(rows))
    print(f"summary in {cv_dir(config)} (results.md, results.csv, cv_summary.json)")
    return 0
