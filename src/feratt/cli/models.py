"""`feratt models`: every registered model with its parameter count and forward GFLOPs."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the registered models with parameters and GFLOPs",
        description="List every registered model with its parameter count and the GFLOPs of "
        "one forward pass on a single image (counted with torch.utils.flop_counter).",
    )
    parser.add_argument("--num-classes", type=int, default=8, help="K (default 8)")
    parser.add_argument("--input-size", type=int, default=64, help="image side (default 64)")
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier (default 1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch
    from rich.console import Console
    from rich.table import Table
    from torch.utils.flop_counter import FlopCounterMode

    from feratt.registry import create_model, list_models

    table = Table(
        title=f"feratt models (K={args.num_classes}, {args.input_size}x{args.input_size})"
    )
    table.add_column("model")
    table.add_column("parameters (M)", justify="right")
    table.add_column("forward GFLOPs", justify="right")
    for name in list_models():
        model = create_model(
            name, num_classes=args.num_classes, input_size=args.input_size, width=args.width
        ).eval()
        image = torch.zeros(1, model.config.in_channels, args.input_size, args.input_size)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(image)
        parameters = sum(p.numel() for p in model.parameters())
        table.add_row(name, f"{parameters / 1e6:.2f}", f"{counter.get_total_flops() / 1e9:.2f}")
    Console().print(table)
    return 0
