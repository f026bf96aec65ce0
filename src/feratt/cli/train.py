"""`feratt train`: train one model from a YAML config (plus key=value overrides) on Lightning."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model from a YAML config",
        description="Train a model from a YAML config; re-running it resumes the last checkpoint.",
    )
    parser.add_argument(
        "--config",
        required=True,
        help="experiment YAML, e.g. configs/ckplus48_feratt_rep_cls.yaml, or the name of a "
        "packaged config, e.g. ckplus48_feratt_rep_cls or release/fer2013_feratt",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides, e.g. train.lr=1e-3 data.mode=real",
    )
    parser.add_argument("--devices", help="devices per node (number, list, or auto)")
    parser.add_argument("--num-nodes", type=int, help="number of nodes (DDP)")
    parser.add_argument("--logger", choices=("tensorboard", "visdom", "none"), help="live logger")
    parser.add_argument("--fold", type=int, help="k-fold test block (data.fold)")
    parser.add_argument(
        "--init",
        help="start from these weights (train.init): 'pretrained' (the shipped model) or a "
        "checkpoint path; fine-tunes instead of training from scratch",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feratt.config import load_config
    from feratt.engine.train import fit

    flags = {
        "train.devices": args.devices,
        "train.num_nodes": args.num_nodes,
        "train.logger": args.logger,
        "data.fold": args.fold,
        "train.init": args.init,
    }
    overrides = [*args.overrides, *(f"{k}={v}" for k, v in flags.items() if v is not None)]
    config = load_config(args.config, overrides)
    try:
        result = fit(config)
    except ConnectionError as err:  # the visdom server is not running
        print(f"feratt train: error: {err}", file=sys.stderr)
        return 1
    if not result.is_global_zero:  # the other ranks of a multi-process run stay quiet
        return 0
    print(f"run folder: {result.run_dir}")
    print(f"best model: {result.best_checkpoint}")
    print(f"last model: {result.last_checkpoint}")
    for key in ("val/acc", "val/loss"):
        if key in result.metrics:
            print(f"{key}: {result.metrics[key]:.4f}")
    return 0
