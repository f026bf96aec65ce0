"""The `feratt` command line: a thin dispatcher over one module per subcommand."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module defines `register(subparsers)`, which adds its parser and sets `func=run`.
# Modules keep heavy imports (torch, cv2, lightning) inside their run functions so that
# `feratt --help` stays instant.
_COMMANDS = (
    "demo",
    "models",
    "data",
    "synth",
    "train",
    "eval",
    "cv",
    "report",
    "predict",
    "serve",
    "export",
)


def build_parser() -> argparse.ArgumentParser:
    from feratt import __version__

    parser = argparse.ArgumentParser(
        prog="feratt", description="Facial expression recognition with attention (FERAtt)."
    )
    parser.add_argument("--version", action="version", version=f"feratt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"feratt.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"feratt.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `feratt` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (OSError, ValueError, KeyError) as err:
        print(f"feratt {args.command}: error: {_describe(err)}", file=sys.stderr)
        return 1


def _describe(err: Exception) -> str:
    """One line for `err`; an operating-system error names its path (a read-only --out, ...)."""
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    if isinstance(err, OSError) and err.filename is not None:
        target = f" -> {err.filename2}" if err.filename2 is not None else ""
        return f"{err.filename}{target}: {err.strerror or err}"
    return str(err)


if __name__ == "__main__":
    sys.exit(main())
