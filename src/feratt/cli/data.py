"""`feratt data info|prepare`: inspect a data set in its native layout, or prepare its faces."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

SKIP_HINT = "rerun with --skip-corrupt to leave such files out and list them"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="inspect or prepare a facial-expression data set")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("path", help="data set root in its publisher's layout")
        sub.add_argument("--format", help="layout name (detected when omitted)")
        sub.add_argument("--split", help="keep one shipped split (train, val, test)")
        sub.add_argument(
            "--skip-corrupt", action="store_true", help="skip unreadable files and list them"
        )

    info = actions.add_parser("info", help="detected format, counts per class and subject")
    common(info)
    info.add_argument("--verify", action="store_true", help="decode every image to find bad ones")
    info.set_defaults(func=run_info)

    prepare = actions.add_parser("prepare", help="write the prepared-face cache and a preview")
    common(prepare)
    prepare.add_argument("--out", required=True, help="cache folder")
    prepare.add_argument("--size", type=int, default=64, help="face crop side (default 64)")
    prepare.add_argument("--channels", type=int, choices=(1, 3), default=1, help="1 grey, 3 RGB")
    prepare.add_argument("--detect", action="store_true", help="Haar face detection first")
    prepare.add_argument("--workers", type=int, help="decoding threads")
    prepare.set_defaults(func=run_prepare)

    check = actions.add_parser(
        "check", help="exact and near-duplicate faces within and across classes, subjects, splits"
    )
    common(check)
    check.add_argument(
        "--max-distance",
        type=int,
        default=8,
        help="near duplicates: perceptual hashes at most this many of 64 bits apart (default 8)",
    )
    check.add_argument(
        "--min-correlation",
        type=float,
        default=0.99,
        help="near duplicates: pixel correlation of their 32x32 grey copies (default 0.99)",
    )
    check.add_argument("--examples", type=int, default=10, help="pairs listed per kind")
    check.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    check.set_defaults(func=run_check)


@contextmanager
def _suggest_skipping(args: argparse.Namespace, missing_files: bool = True) -> Iterator[None]:
    """Unreadable entries (and, while decoding, missing files) fail with a hint to skip them."""
    from feratt.data.datasets.base import CorruptEntryError

    skippable = (CorruptEntryError, FileNotFoundError) if missing_files else CorruptEntryError
    try:
        yield
    except skippable as err:
        if args.skip_corrupt:
            raise
        raise type(err)(f"{err} ({SKIP_HINT})") from err


def _open(args: argparse.Namespace):
    from feratt.data import open_dataset

    with _suggest_skipping(args, missing_files=False):  # a missing data set path is no entry
        return open_dataset(args.path, args.format, args.split, args.skip_corrupt)


def _print_skipped(skipped: list) -> None:
    if not skipped:
        return
    print(f"skipped {len(skipped)} file(s):")
    for path, reason in skipped[:20]:
        print(f"  {path}: {reason}")
    if len(skipped) > 20:
        print(f"  ... and {len(skipped) - 20} more")


def run_info(args: argparse.Namespace) -> int:
    import numpy as np

    dataset = _open(args)
    listed = len(dataset)
    with _suggest_skipping(args):
        # Without --verify, each image file is probed (stat, open, header): a symlink loop or an
        # unreadable file is no face.
        dataset = dataset.checked(decode=args.verify)
    print(f"format: {dataset.format_name}")
    print(f"root: {dataset.root}")
    splits = ", ".join(f"{name} {count}" for name, count in dataset.split_counts().items())
    print(f"faces: {len(dataset)}" + (f" (splits: {splits})" if splits else ""))
    print("classes:")
    for name, count in dataset.class_counts().items():
        print(f"  {name:10s} {count}")
    subjects = dataset.subject_counts()
    if subjects:
        counts = np.array(list(subjects.values()))
        print(
            f"subjects: {len(subjects)} (faces per subject: min {counts.min()}, "
            f"median {int(np.median(counts))}, max {counts.max()})"
        )
    else:
        print("subjects: none (use stratified per-image folds or the shipped splits)")
    for reason, count in dataset.dropped.items():
        print(f"left out by the protocol: {count} ({reason})")
    if args.verify:
        print(f"verified: {len(dataset)} of {listed} faces decode")
    _print_skipped(dataset.skipped)
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from pathlib import Path

    import cv2

    from feratt.data.cache import prepare_cached
    from feratt.data.preparation import preview_grid

    dataset = _open(args)
    Path(args.out).mkdir(parents=True, exist_ok=True)  # an unwritable --out fails before decoding
    with _suggest_skipping(args):
        prepared = prepare_cached(
            dataset,
            args.out,
            size=args.size,
            channels=args.channels,
            detect=args.detect,
            workers=args.workers,
        )
    preview = Path(args.out) / f"preview-{Path(prepared.meta['cache_path']).name}.png"
    grid = preview_grid(prepared)
    cv2.imwrite(str(preview), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    state = "reused" if prepared.meta["cache_hit"] else "wrote"
    print(
        f"{state} {len(prepared)} faces of {args.size}x{args.size} in {prepared.meta['cache_path']}"
    )
    if prepared.meta.get("undetected"):
        print(f"no face detected in {prepared.meta['undetected']} image(s): whole image used")
    print(f"preview: {preview}")
    _print_skipped([tuple(item) for item in prepared.meta.get("skipped", [])])
    return 0


def run_check(args: argparse.Namespace) -> int:
    import json

    from feratt.data.duplicates import face_keys, find_duplicates, report_lines
    from feratt.fileio import write_text

    if not 0 <= args.max_distance <= 64:
        raise ValueError(f"--max-distance must be 0-64 bits; got {args.max_distance}")
    if not -1 <= args.min_correlation <= 1:
        raise ValueError(f"--min-correlation must be in [-1, 1]; got {args.min_correlation}")
    dataset = _open(args)
    with _suggest_skipping(args):
        keys = face_keys(dataset)
    report = find_duplicates(keys, args.max_distance, args.min_correlation, args.examples)
    for line in report_lines(report):
        print(line)
    if args.json:
        write_text(args.json, json.dumps(report.to_dict(), indent=1) + "\n")
    _print_skipped(dataset.skipped)
    return 0
