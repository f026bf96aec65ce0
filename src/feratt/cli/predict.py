"""`feratt predict`: expressions and attention for photos, folders, globs, videos and webcams."""

from __future__ import annotations

import argparse
import sys


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number; got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="recognise expressions in images, folders, globs, videos or a webcam",
        description=(
            "Find faces (Haar cascade unless --no-detect), classify them, and write one "
            "JSON/CSV row per face plus annotated images and attention panels (with --out). "
            "Videos (.mp4, .avi, ...) and --webcam give an annotated video and a timeline CSV."
        ),
    )
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="image/video files, folders, globs"
    )
    parser.add_argument(
        "-c",
        "--checkpoint",
        help="feratt checkpoint, or a file from feratt export (default: the pretrained weights "
        "shipped in the package, see feratt models)",
    )
    parser.add_argument("--webcam", type=int, metavar="INDEX", help="read frames from this camera")
    parser.add_argument(
        "--no-detect", action="store_true", help="inputs are face crops: skip face detection"
    )
    parser.add_argument("-o", "--out", metavar="DIR", help="output folder (else table to stdout)")
    parser.add_argument("--format", choices=("json", "csv"), default="json", help="table format")
    parser.add_argument(
        "--backend",
        choices=("torch", "onnx"),
        default="torch",
        help="runtime for a checkpoint (onnx: exported in memory); exported files pick their own",
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda (torch backend)")
    parser.add_argument("--threads", type=positive_int, help="CPU threads for torch / ONNX Runtime")
    parser.add_argument(
        "--batch-size", type=positive_int, default=16, help="images or frames per batch"
    )
    parser.add_argument(
        "--smooth",
        type=float,
        default=0.0,
        metavar="ALPHA",
        help="video: weight of the past in each face track's probability average (0: off; < 1)",
    )
    parser.add_argument("--max-frames", type=int, help="video/webcam: stop after this many frames")
    parser.add_argument(
        "--max-pixels",
        type=positive_int,
        metavar="N",
        help="refuse images of more than N pixels, from their header, before decoding "
        "(default 50,000,000: feratt.data.io.MAX_IMAGE_PIXELS)",
    )
    parser.add_argument("--no-images", action="store_true", help="write the table only")
    parser.add_argument(
        "--skip-errors",
        action="store_true",
        help="exit 0 even when some inputs were unreadable (they are always reported and skipped)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feratt.inference.files import predict_files
    from feratt.inference.recognizer import Recognizer
    from feratt.inference.video import process_video

    if not args.paths and args.webcam is None:
        raise ValueError("give image/video PATHs or --webcam INDEX")
    if args.webcam is not None and args.out is None:
        raise ValueError("--webcam needs an output folder (--out DIR)")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    options = {"device": args.device, "backend": args.backend, "threads": args.threads}
    if args.checkpoint is None:
        recognizer = Recognizer.pretrained(**options)
    else:
        recognizer = Recognizer.from_checkpoint(args.checkpoint, **options)
    failures = 0
    if args.paths:
        result = predict_files(
            recognizer,
            args.paths,
            out_dir=args.out,
            table_format=args.format,
            detect=not args.no_detect,
            write_images=not args.no_images,
            batch_size=args.batch_size,
            smooth=args.smooth,
            max_frames=args.max_frames,
            **({"max_pixels": args.max_pixels} if args.max_pixels else {}),
        )
        failures = len(result.failures)
        print(
            f"{result.files} file(s), {result.faces} face(s), {failures} skipped", file=sys.stderr
        )
    if args.webcam is not None:
        summary = process_video(
            recognizer,
            args.webcam,
            args.out,
            batch_size=args.batch_size,
            smooth=args.smooth,
            max_frames=args.max_frames,
            detect=not args.no_detect,
        )
        print(f"webcam {args.webcam}: {summary.frames} frames -> {summary.video_path}")
    return 1 if failures and not args.skip_errors else 0
