"""`feratt models`: every registered model with its parameter count and forward GFLOPs, and
the pretrained weights shipped in the package."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the registered models (parameters, GFLOPs) and the pretrained weights",
        description="List every registered model with its parameter count and the GFLOPs of "
        "one forward pass on a single image (counted with torch.utils.flop_counter), then the "
        "pretrained weights: whether their file is here, its size, SHA-256 and accuracy.",
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

    from feratt.models import create_model, list_models

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
    console = Console()
    console.print(table)
    _print_pretrained(console)
    return 0


def _print_pretrained(console: Console) -> None:
    """The shipped weights: present (and passing their SHA-256 check) or not, and why not."""
    from rich.table import Table

    from feratt.pretrained import PRETRAINED, load_pretrained, pretrained_path

    table = Table(title="pretrained weights (feratt predict / export without --checkpoint)")
    for column in ("name", "file", "MB", "SHA-256", "val acc", "description"):
        table.add_column(column, justify="right" if column in ("MB", "val acc") else "left")
    notes = []
    for weights in PRETRAINED.values():
        path = pretrained_path(weights.name)
        recorded = weights.sha256[:12] if weights.sha256 else "not recorded"
        size, accuracy, status = "-", "-", "missing"
        if not path.is_file():
            notes.append(f"{weights.name}: {path} is missing; {weights.build_instructions}")
        else:
            size = f"{path.stat().st_size / 1e6:.1f}"
            try:
                # "val/acc" is what `feratt train` records in model-best.pt (BEST_METRIC).
                score = load_pretrained(weights.name).metadata.get("val/acc")
                status, accuracy = "ok", "-" if score is None else f"{score:.1%}"
            except ValueError as err:
                status = "invalid"
                notes.append(f"{weights.name}: {err}")
        table.add_row(weights.name, status, size, recorded, accuracy, weights.description)
    console.print(table)
    for note in notes:
        console.print(note, soft_wrap=True, markup=False, highlight=False)
