"""`feratt demo`: train and compare the models on procedural faces; no download, no data set."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train and compare FERAtt and the baseline on procedural faces (CPU, ~4 min)",
        description="Render a labelled set of procedural faces, composite them on clutter, train "
        "the PreActResNet18 baseline and a reduced-width FERAtt+Rep+Cls on the CPU, evaluate both "
        "on real and synthetic test faces of unseen people and write the paper-style report.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("feratt-demo"), help="report folder (default: %(default)s)"
    )
    parser.add_argument(
        "--epochs", type=int, help="training epochs (more: better models, longer run)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of rendering and training")
    parser.add_argument(
        "--quick", action="store_true", help="a seconds-long run with tiny data (a smoke test)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import warnings
    from dataclasses import replace

    from feratt.engine.demo import DemoSettings, run_demo

    # The demo reports its own progress: keep Lightning's device banners and tips, and a
    # deprecation it triggers inside torch's pytree module, out of the user's way.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")

    settings = DemoSettings(out_dir=args.out, seed=args.seed)
    if args.quick:
        settings = settings.quick()
    if args.epochs is not None:
        if args.epochs < 1:
            raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
        settings = replace(settings, epochs=args.epochs)
    report = run_demo(settings)
    print()
    print(report.table)
    print(f"finished in {report.seconds:.0f} s; report: {report.files['report']}")
    for name, path in sorted(report.files.items()):
        if name != "report":
            print(f"  {name}: {path}")
    return 0
