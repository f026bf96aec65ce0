"""Predictions over files, folders and globs: one table row per face, pictures, videos.

A bad file is reported through ``report`` and skipped; it never stops the rest.
"""

from __future__ import annotations

import csv
import glob
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from feratt.data.io import IMAGE_EXTENSIONS
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
) -> PredictionRun:
    """Predict every image and video in ``inputs``.

    With ``out_dir``: writes ``predictions.<json|csv>``, and per image ``<stem>_annotated.png``
    and ``<stem>_face<i>_attention.png`` (when ``write_images``); per video an annotated mp4 and
    a timeline CSV. Without it, the table goes to stdout and videos are refused.
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
    for chunk in _chunks(images, batch_size):
        pictures = _load_all(chunk, run, report)
        results = recognizer.predict_batch(list(pictures.values()), detect=detect)
        for (path, picture), faces in zip(pictures.items(), results, strict=True):
            run.files += 1
            run.faces += len(faces)
            if not faces:
                report(f"{path}: no face found")
            run.rows.extend(_rows(path, faces))
            if out is not None and write_images:
                run.outputs.extend(_write_pictures(out, names.stem(path), picture, faces))
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
        report(f"{video}: {summary.frames} frames, {summary.faces} faces -> {summary.video_path}")
    table = write_table(run.rows, recognizer.classes, table_format, out)
    if table is not None:
        run.outputs.insert(0, table)
    return run


def _chunks(items: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _load_all(paths: list[Path], run: PredictionRun, report: Reporter) -> dict[Path, np.ndarray]:
    """The decodable images among `paths`; the others are reported and recorded as failures."""
    pictures = {}
    for path in paths:
        try:
            pictures[path] = load_image(path)
        except (OSError, ValueError) as err:
            _fail(run, report, path, str(err))
    return pictures


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


def write_table(
    rows: list[dict], classes: Sequence[str], table_format: str, out_dir: Path | None
) -> Path | None:
    """``predictions.json``/``.csv`` in ``out_dir`` (the CSV leaves out embeddings), or stdout."""
    target = out_dir / f"predictions.{table_format}" if out_dir is not None else None
    with open(target, "w", newline="") if target else nullcontext(sys.stdout) as handle:
        if table_format == "json":
            json.dump(rows, handle, indent=1)
            handle.write("\n")
        else:
            columns = ["path", "face", *FaceResult.table_columns(classes)]
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    return target


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
