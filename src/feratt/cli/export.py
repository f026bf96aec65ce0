"""`feratt export`: a checkpoint (or the shipped weights) as ONNX or TorchScript, checked
against PyTorch."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a checkpoint to ONNX or TorchScript",
        description=(
            "Write the model as a graph returning (logits, probabilities, embedding, attention "
            "image, attention map) with its classes inside, then check that its outputs match "
            "PyTorch within the tolerance."
        ),
    )
    parser.add_argument(
        "-c",
        "--checkpoint",
        help="feratt checkpoint (default: the pretrained weights shipped in the package)",
    )
    parser.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    parser.add_argument(
        "-o",
        "--out",
        metavar="PATH",
        help="output file (default: next to the checkpoint; for the pretrained weights, "
        "fer2013_feratt.onnx or .torchscript.pt in the working folder)",
    )
    parser.add_argument(
        "--dynamic-batch", action="store_true", help="ONNX: any batch size (default: batch 1)"
    )
    parser.add_argument(
        "--verify",
        nargs="+",
        default=(),
        metavar="IMAGE",
        help="face crops to compare the outputs on (default: 4 random images)",
    )
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed difference")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feratt.inference.checkpoint_export import export_checkpoint, export_pretrained

    options = {
        "export_format": args.format,
        "out": args.out,
        "dynamic_batch": args.dynamic_batch,
        "verify_images": args.verify,
        "tolerance": args.tolerance,
    }
    if args.checkpoint is None:
        report = export_pretrained(**options)
    else:
        report = export_checkpoint(args.checkpoint, **options)
    worst = max(report.differences.values())
    print(
        f"wrote {report.path}; largest difference from PyTorch on {report.faces} faces: {worst:.2e}"
    )
    return 0
