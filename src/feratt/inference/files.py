"""Predictions over files, folders and globs: one table row per face, pictures, videos.

A bad file is reported through ``report`` and skipped; it never stops the rest.
"""

from __future__ import annotations

import csv
import glob
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from feratt.data.io import IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS
from feratt.fileio import atomic_write
from feratt.inference.images import VIDEO_SUFFIXES, load_image
from feratt.inference.recognizer import FaceResult, Recognizer
from feratt.inference.render import annotate, attention_panel
from feratt.inference.video import process_video

Reporter = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass
class PredictionRun:
    """What a run produced: image table rows (one per face), counts (videos included), outputs
    and the inputs it could not use."""

    rows: list[dict] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    files: int = 0
    faces: int = 0
    outputs: list[Path] = field(default_factory=list)


def expand_inputs(inputs: Sequence[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files, folders (searched recursively for images and videos) and glob patterns -> files.

    Returns the files in order (duplicates dropped) and (input, problem) for inputs that matched
    nothing.
    """
    found: dict[Path, None] = {}
    problems = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.is_file() and _is_media(p))
        elif path.is_file():
            matches = [path]
        else:
            matches = [Path(p) for p in sorted(glob.glob(str(item), recursive=True))]
            matches = [p for p in matches if p.is_file()]
        if not matches:
            problems.append((str(item), "no such file, or no images or videos in it"))
        found.update(dict.fromkeys(matches))
    return list(found), problems


def _is_media(path: Path) -> bool:
    media = path.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_SUFFIXES
    return media and not path.name.startswith(".")


def predict_files(
    recognizer: Recognizer,
    inputs: Sequence[str | Path],
    out_dir: str | Path | None = None,
    table_format: str = "json",
    detect: bool = True,
    write_images: bool = True,
    batch_size: int = 16,
    smooth: float = 0.0,
    max_frames: int | None = None,
    progress: bool = True,
    report: Reporter = _stderr,
    max_pixels: int | None = MAX_IMAGE_PIXELS,
) -> PredictionRun:
    """Predict every image and video in ``inputs``.

    With ``out_dir``: writes ``predictions.<json|csv>``, and per image ``<stem>_annotated.png``
    and ``<stem>_face<i>_attention.png`` (when ``write_images``); per video an annotated mp4 and
    a timeline CSV. Without it, the table goes to stdout and videos are refused. Table rows are
    written as each image is done: when a later step fails (a full disk, say) the table holds the
    rows of the images done before. Images of more than `max_pixels` pixels (None: no limit)
    are refused from their header; a batch holds at most
    `batch_size` images and `BATCH_PIXELS` decoded pixels (a larger image alone).
    """
    if table_format not in ("json", "csv"):
        raise ValueError(f"unknown table format {table_format!r}; expected 'json' or 'csv'")
    files, problems = expand_inputs(inputs)
    run = PredictionRun(failures=problems)
    for item, problem in problems:
        report(f"{item}: {problem}")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    names = _OutputNames()
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    images = [p for p in files if p.suffix.lower() not in VIDEO_SUFFIXES]
    with TableWriter(recognizer.classes, table_format, out) as table:
        if table.path is not None:
            run.outputs.append(table.path)
        for pictures in _image_batches(images, batch_size, max_pixels, run, report):
            results = recognizer.predict_batch(list(pictures.values()), detect=detect)
            for (path, picture), faces in zip(pictures.items(), results, strict=True):
                run.files += 1
                run.faces += len(faces)
                if not faces:
                    report(f"{path}: no face found")
                rows = _rows(path, faces)
                run.rows.extend(rows)
                table.write(rows)
                if out is not None and write_images:
                    run.outputs.extend(_write_pictures(out, names.stem(path), picture, faces))
            pictures.clear()
        for video in videos:
            if out is None:
                _fail(run, report, video, "videos need an output folder (--out DIR)")
                continue
            try:
                summary = process_video(
                    recognizer,
                    video,
                    out,
                    names.stem(video),
                    batch_size,
                    smooth,
                    max_frames,
                    progress,
                    detect,
                )
            except ValueError as err:
                _fail(run, report, video, str(err))
                continue
            run.files += 1
            run.faces += summary.faces
            run.outputs.extend([summary.video_path, summary.timeline_path])
            report(
                f"{video}: {summary.frames} frames, {summary.faces} faces -> {summary.video_path}"
            )
    return run


# Decoded pixels a batch of images may hold at once (about 150 MB as RGB), besides its last image.
BATCH_PIXELS = 50_000_000


def _image_batches(
    paths: list[Path],
    size: int,
    max_pixels: int | None,
    run: PredictionRun,
    report: Reporter,
) -> Iterator[dict[Path, np.ndarray]]:
    """The decodable images among `paths` in batches of at most `size` images and
    `BATCH_PIXELS` pixels (a larger image alone); the others are reported and recorded as
    failures."""
    batch: dict[Path, np.ndarray] = {}
    pixels = 0
    for path in paths:
        try:
            picture = load_image(path, max_pixels=max_pixels)
        except (OSError, ValueError) as err:
            _fail(run, report, path, str(err))
            continue
        if batch and pixels + picture.shape[0] * picture.shape[1] > BATCH_PIXELS:
            yield batch
            batch, pixels = {}, 0
        batch[path] = picture
        pixels += picture.shape[0] * picture.shape[1]
        if len(batch) >= size:
            yield batch
            batch, pixels = {}, 0
    if batch:
        yield batch


def _fail(run: PredictionRun, report: Reporter, path: Path, message: str) -> None:
    run.failures.append((str(path), message))
    report(f"skipped {path}: {message}")


def _rows(path: Path, faces: list[FaceResult]) -> list[dict]:
    rows = []
    for index, face in enumerate(faces):
        row = {"path": str(path), "face": index, **face.table_row()}
        if face.embedding is not None:
            row["embedding"] = [round(float(v), 6) for v in face.embedding]
        rows.append(row)
    return rows


class TableWriter:
    """``predictions.json``/``.csv`` in `out_dir` (the CSV leaves out embeddings), or stdout,
    written row by row: a JSON array (as ``json.dump(rows, indent=1)`` writes it) or a CSV.

    The file is written through `atomic_write`: it appears complete at the end, and when the run
    fails it still appears, closed after the last row that was written in full.
    """

    def __init__(self, classes: Sequence[str], table_format: str, out_dir: Path | None) -> None:
        self.format = table_format
        self.columns = ["path", "face", *FaceResult.table_columns(classes)]
        self.path = out_dir / f"predictions.{table_format}" if out_dir is not None else None
        self._stack = ExitStack()
        self._count = 0
        self._good = 0

    def __enter__(self) -> TableWriter:
        if self.path is None:
            self.handle = sys.stdout
        else:
            target = atomic_write(self.path, keep_partial=True, newline="")
            self.handle = self._stack.enter_context(target)
        if self.format == "csv":
            self._csv = csv.DictWriter(self.handle, fieldnames=self.columns, extrasaction="ignore")
            self._csv.writeheader()
        else:
            self.handle.write("[")
        self._done()
        return self

    def write(self, rows: list[dict]) -> None:
        """Append `rows` and flush them."""
        for row in rows:
            if self.format == "csv":
                self._csv.writerow(row)
            else:
                text = json.dumps(row, indent=1).replace("\n", "\n ")
                self.handle.write(("\n " if self._count == 0 else ",\n ") + text)
            self._count += 1
        self._done()

    def _done(self) -> None:
        self.handle.flush()
        if self.path is not None:
            self._good = self.handle.tell()

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        try:
            if error is not None and self.path is not None:
                self.handle.truncate(self._good)  # drop a row cut short by the failure
                self.handle.seek(self._good)
            if self.format == "json":
                self.handle.write("\n]\n" if self._count else "]\n")
            self.handle.flush()
        except OSError:
            if error is None:
                raise
        finally:
            self._stack.__exit__(kind, error, trace)


class _OutputNames:
    """File stems for outputs, made unique when two inputs share a name."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def stem(self, path: Path) -> str:
        stem, n = path.stem, 1
        while stem in self.used:
            stem, n = f"{path.stem}_{n}", n + 1
        self.used.add(stem)
        return stem


def _write_pictures(
    out: Path, stem: str, picture: np.ndarray, faces: list[FaceResult]
) -> list[Path]:
    written = [out / f"{stem}_annotated.png"]
    _save_rgb(written[0], annotate(picture, faces))
    for index, face in enumerate(faces):
        written.append(out / f"{stem}_face{index}_attention.png")
        _save_rgb(written[-1], attention_panel(face))
    return written


def _save_rgb(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
