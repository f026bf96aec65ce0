"""Make a training run's best model the pretrained weights shipped in the package.

    feratt train --config configs/release/fer2013_feratt.yaml
    python scripts/release_weights.py runs/fer2013_feratt

Reads RUN_DIR/model-best.pt (or the checkpoint file given instead), re-saves it with
`save_checkpoint` in float16 (or --dtype float32) as src/feratt/models/weights/<name>.pt, checks
that the copy predicts what the run's model predicts, prints its SHA-256 and writes it into its
constant in src/feratt/pretrained.py (or prints the line to paste there).
"""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path

import torch
from torch import nn

from feratt.checkpoint import load_checkpoint, save_checkpoint
from feratt.pretrained import (
    DEFAULT_PRETRAINED,
    PRETRAINED,
    file_sha256,
    pretrained_weights,
)

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "feratt"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run", type=Path, metavar="RUN_DIR", help="run folder (its model-best.pt) or a checkpoint"
    )
    parser.add_argument("--name", default=DEFAULT_PRETRAINED, choices=list(PRETRAINED))
    parser.add_argument(
        "--dtype",
        choices=("float16", "float32"),
        default="float16",
        help="stored weights (float16 halves the file; models load them as float32)",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        help="calibration temperature T to record: probabilities become softmax(logits / T)",
    )
    parser.add_argument(
        "--out", type=Path, help="weights file (default: src/feratt/models/weights/<file>)"
    )
    parser.add_argument(
        "--module",
        type=Path,
        default=PACKAGE / "pretrained.py",
        help="the module whose SHA-256 constant is rewritten",
    )
    args = parser.parse_args(argv)
    if args.temperature is not None and not args.temperature > 0:
        parser.error(f"--temperature must be positive; got {args.temperature}")
    return args


def compare(reference: nn.Module, candidate: nn.Module, count: int = 16) -> tuple[float, int]:
    """Largest logit difference and number of equal labels on seeded random images."""
    config = reference.config
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(
        count, config.in_channels, config.input_size, config.input_size, generator=generator
    )
    with torch.no_grad():
        expected, actual = reference(images).logits, candidate(images).logits
    same = int((expected.argmax(1) == actual.argmax(1)).sum())
    return float((expected - actual).abs().max()), same


def record_sha256(module: Path, constant: str, line: str) -> bool:
    """Replace the one line of `module` that assigns `constant` by `line`; False if none does."""
    pattern = re.compile(rf"^{constant}\b[^=\n]*=.*$", re.MULTILINE)
    text = module.read_text() if module.is_file() else ""
    if len(pattern.findall(text)) != 1:
        return False
    module.write_text(pattern.sub(line, text))
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    source = args.run / "model-best.pt" if args.run.is_dir() else args.run
    loaded = load_checkpoint(source)
    weights = pretrained_weights(args.name)
    out = args.out or PACKAGE / "models" / "weights" / weights.filename
    metadata = {**loaded.metadata, "released_from": str(source), "dtype": args.dtype}
    if args.temperature is not None:
        metadata["temperature"] = args.temperature
    stored = copy.deepcopy(loaded.model).to(getattr(torch, args.dtype))
    save_checkpoint(out, stored, loaded.classes, metadata)

    difference, same = compare(loaded.model, load_checkpoint(out).model)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {args.dtype} weights)")
    print(f"reloaded: largest logit difference {difference:.2e}, same label on {same}/16 images")
    if "val/acc" in metadata:
        print(f"val/acc of the run: {metadata['val/acc']:.4f}")
    digest = file_sha256(out)
    print(f"sha256: {digest}")
    constant = f"{args.name.upper()}_SHA256"
    line = f'{constant}: str | None = "{digest}"'
    if not record_sha256(args.module, constant, line):
        print(f"{constant} is not assigned once in {args.module}; paste this line there:\n{line}")
        return 1
    print(f"recorded in {args.module}: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
