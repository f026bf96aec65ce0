"""`feratt report`: the paper-style results table (and t-SNE plots) from evaluation JSONs."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="paper-style table from evaluation JSONs / run directories",
        description="Build the paper's table (PreActResNet18 / FERAtt+Cls / FERAtt+Rep+Cls x "
        "Real / Synthetic x Acc, Prec, Rec, F1; mean ± std over folds) as Markdown and CSV, "
        "the accuracy of every fold (folds.md, fold_accuracy.png), and a t-SNE plot for every "
        "evaluation that saved its embeddings.",
    )
    parser.add_argument("runs", nargs="+", type=Path, help="evaluation JSON files or directories")
    parser.add_argument("--out", type=Path, default=Path("report"), help="output directory")
    parser.add_argument("--no-tsne", action="store_true", help="skip the t-SNE plots")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feratt.engine.reporting import (
        load_evaluations,
        paper_table,
        paper_table_markdown,
        write_fold_report,
        write_paper_table,
        write_tsne_plots,
    )

    records = load_evaluations(args.runs)
    rows = paper_table(records)
    paths = write_paper_table(rows, args.out) | write_fold_report(records, args.out)
    print(paper_table_markdown(rows))
    plots = [] if args.no_tsne else write_tsne_plots(records, args.out)
    print(f"{len(records)} evaluations -> {', '.join(map(str, paths.values()))}", end="")
    print(f", {len(plots)} t-SNE plots" if plots else "")
    return 0
