"""`feratt serve`: the web page and HTTP API on this machine (loopback unless told otherwise)."""

from __future__ import annotations

import argparse
import sys

from feratt.cli.predict import positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="web page and HTTP API for photos and the webcam, with attention maps",
        description=(
            "Serve the model over HTTP: a page at / (drop photos or start the webcam), "
            "POST /v1/predict, GET /v1/model, GET /healthz, API docs at /docs."
        ),
    )
    parser.add_argument(
        "-c", "--checkpoint", help="feratt checkpoint or exported file (default: shipped weights)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port")
    parser.add_argument(
        "--max-upload-mb", type=float, default=20.0, help="size of one request's uploads"
    )
    parser.add_argument(
        "--max-pixels", type=positive_int, help="pixels of one image (default: as predict)"
    )
    parser.add_argument(
        "--queue", type=int, default=8, help="requests that may wait for the model (then 503)"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds a request waits for the model (504)"
    )
    parser.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feratt.inference.recognizer import Recognizer
    from feratt.pretrained import DEFAULT_PRETRAINED

    try:
        from feratt.serve.app import ServeSettings, create_app
        from feratt.serve.server import serve
    except ImportError as err:
        raise ValueError(f"{err}; install the server: pip install 'feratt[serve]'") from None

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be 0..65535; got {args.port}")
    if args.max_upload_mb <= 0 or args.timeout <= 0 or args.queue < 0:
        raise ValueError("--max-upload-mb and --timeout must be positive, --queue at least 0")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.checkpoint is None:
        recognizer, name = Recognizer.pretrained(device=args.device), DEFAULT_PRETRAINED
    else:
        recognizer = Recognizer.from_checkpoint(args.checkpoint, device=args.device)
        name = args.checkpoint
    limits = {"max_pixels": args.max_pixels} if args.max_pixels else {}
    settings = ServeSettings(
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        waiting=args.queue,
        timeout_s=args.timeout,
        **limits,
    )
    print(f"feratt serve: http://{args.host}:{args.port}/ (Ctrl+C stops)", file=sys.stderr)
    serve(create_app(recognizer, name, settings), args.host, args.port)
    return 0
