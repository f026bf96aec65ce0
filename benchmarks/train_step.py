"""Training throughput (images/s) of one full FERAtt step: forward, all losses, backward, Adam.

Random data already on the device, 64x64 (configurable), Adam(amsgrad, lr 1e-4), for each model
and mode: fp32; bf16 autocast + channels_last; and the latter under torch.compile (model and loss
compiled as one function). Prints a Markdown table; --json writes the rows.

    python benchmarks/train_step.py                       # CUDA if present, batch 200
    python benchmarks/train_step.py --batch 16 --steps 3 --modes fp32,bf16   # quick CPU run
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from feratt.losses import FERAttLoss
from feratt.models import create_model, list_models

MODES = ("fp32", "bf16", "compile")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    name: str, mode: str, args: argparse.Namespace, device: torch.device
) -> dict[str, object]:
    """Images/s of `args.steps` timed training steps after `args.warmup` untimed ones."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=args.num_classes, input_size=args.size, width=args.width)
    model.to(device).train()
    fast = mode != "fp32"
    memory_format = torch.channels_last if fast else torch.contiguous_format
    model.to(memory_format=memory_format)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=1e-4, amsgrad=True, fused=device.type == "cuda"
    )
    loss_fn = FERAttLoss()
    shape = (args.batch, 3, args.size, args.size)
    images = torch.rand(shape, device=device).contiguous(memory_format=memory_format)
    clean = torch.rand(shape, device=device).contiguous(memory_format=memory_format)
    labels = torch.randint(0, args.num_classes, (args.batch,), device=device)

    def forward_loss(x: torch.Tensor, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
            return loss_fn(model(x), y, c)["loss"]

    if mode == "compile":
        forward_loss = torch.compile(forward_loss, mode=args.compile_mode)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        forward_loss(images, labels, clean).backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    _synchronize(device)
    seconds = time.perf_counter() - start
    return {
        "model": name,
        "mode": mode,
        "batch": args.batch,
        "size": args.size,
        "images_per_s": args.batch * args.steps / seconds,
        "ms_per_step": 1000 * seconds / args.steps,
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed steps (compile happens here)"
    )
    parser.add_argument("--num-classes", type=int, default=8)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--models", default=",".join(list_models()))
    parser.add_argument("--modes", default=",".join(MODES), help=f"subset of {','.join(MODES)}")
    parser.add_argument(
        "--compile-mode", default=None, help="torch.compile mode, e.g. max-autotune"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    modes = args.modes.split(",")
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; choose from {MODES}")

    rows = []
    for name in args.models.split(","):
        for mode in modes:
            rows.append(measure(name, mode, args, device))
            print(f"{name} {mode}: {rows[-1]['images_per_s']:,.1f} img/s", file=sys.stderr)
    print(
        f"\n{_device_name(device)}, torch {torch.__version__}, batch {args.batch}, "
        f"{args.size}x{args.size}, {args.steps} timed steps after {args.warmup} warm-up\n"
    )
    print("| model | " + " | ".join(f"{m} img/s" for m in modes) + " |")
    print("| --- |" + " ---: |" * len(modes))
    for name in args.models.split(","):
        rates = [f"{r['images_per_s']:,.1f}" for r in rows if r["model"] == name]
        print(f"| {name} | " + " | ".join(rates) + " |")
    if args.json:
        args.json.write_text(json.dumps({"device": _device_name(device), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
