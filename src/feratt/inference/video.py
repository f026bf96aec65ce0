"""Videos and webcams: batched frames, IoU tracks with smoothed probabilities, annotated video."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from feratt.fileio import atomic_write
from feratt.inference.recognizer import FaceResult, Recognizer
from feratt.inference.render import annotate


@dataclass
class _Track:
    box: tuple[int, int, int, int]
    probabilities: np.ndarray
    missed: int = 0


class FaceTracker:
    """Greedy IoU matching of faces to the tracks of earlier frames, with EMA smoothing.

    Args:
        smooth: weight of the past in the exponential moving average of each track's
            probabilities (0 = no smoothing, 0.8 = heavy).
        min_iou: overlap below which a face starts a new track.
        max_missed: frames a track survives without a matching face.
    """

    def __init__(self, smooth: float = 0.0, min_iou: float = 0.3, max_missed: int = 5) -> None:
        if not 0.0 <= smooth < 1.0:
            raise ValueError(f"smoothing weight must be in [0, 1), got {smooth}")
        self.smooth, self.min_iou, self.max_missed = smooth, min_iou, max_missed
        self.tracks: dict[int, _Track] = {}
        self._next_id = 0

    def update(self, faces: Sequence[FaceResult]) -> list[tuple[int, FaceResult]]:
        """Track id and smoothed result for each face of one frame, in the input order."""
        pairs = sorted(
            (
                (box_iou(face.box, track.box), i, tid)
                for i, face in enumerate(faces)
                for tid, track in self.tracks.items()
            ),
            reverse=True,
        )
        assigned: dict[int, int] = {}
        for iou, face_index, track_id in pairs:
            if iou < self.min_iou:
                break
            if face_index not in assigned and track_id not in assigned.values():
                assigned[face_index] = track_id
        results, seen = [], set()
        for i, face in enumerate(faces):
            track_id = assigned.get(i)
            if track_id is None:
                track_id, self._next_id = self._next_id, self._next_id + 1
                self.tracks[track_id] = _Track(face.box, face.probability_vector())
            seen.add(track_id)
            results.append((track_id, self._smoothed(self.tracks[track_id], face, i in assigned)))
        for track_id in list(self.tracks):
            track = self.tracks[track_id]
            track.missed = 0 if track_id in seen else track.missed + 1
            if track.missed > self.max_missed:
                del self.tracks[track_id]
        return results

    def _smoothed(self, track: _Track, face: FaceResult, matched: bool) -> FaceResult:
        current = face.probability_vector()
        if matched:
            current = self.smooth * track.probabilities + (1.0 - self.smooth) * current
        track.box, track.probabilities = face.box, current
        return face.with_probabilities(current)


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0, width) * max(0, height)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class VideoSummary:
    """What ``process_video`` wrote and saw."""

    frames: int
    faces: int
    video_path: Path
    timeline_path: Path


def process_video(
    recognizer: Recognizer,
    source: str | Path | int,
    out_dir: str | Path,
    name: str | None = None,
    batch_size: int = 8,
    smooth: float = 0.0,
    max_frames: int | None = None,
    progress: bool = True,
    detect: bool = True,
) -> VideoSummary:
    """Annotate every frame of a video file (or webcam index) into ``<name>_annotated.mp4`` and
    write one timeline row per face and frame (an empty-face row for frames without faces) to
    ``<name>_timeline.csv``. A webcam runs until ``max_frames`` or Ctrl-C."""
    capture = cv2.VideoCapture(source if isinstance(source, int) else str(source))
    if not capture.isOpened():
        what = f"webcam {source}" if isinstance(source, int) else str(source)
        raise ValueError(f"{what}: cannot open as a video")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or (f"webcam{source}" if isinstance(source, int) else Path(source).stem)
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))  # 0 or -1 for a webcam
    known = [n for n in (count, max_frames) if n is not None and n > 0]
    video_path, timeline_path = out_dir / f"{name}_annotated.mp4", out_dir / f"{name}_timeline.csv"
    tracker = FaceTracker(smooth=smooth)
    writer = None
    frame_count = face_count = 0
    columns = ["frame", "time_s", "track", *FaceResult.table_columns(recognizer.classes)]
    bar = _progress(progress, min(known) if known else None, name)
    with atomic_write(timeline_path, keep_partial=True, newline="") as handle, bar as advance:
        table = csv.DictWriter(handle, fieldnames=columns)
        table.writeheader()
        try:
            for frames in _batches(capture, batch_size, max_frames):
                for frame, faces in zip(
                    frames, recognizer.predict_batch(frames, detect), strict=True
                ):
                    if writer is None:
                        writer = _open_writer(video_path, fps, frame.shape)
                    tracked = tracker.update(faces)
                    picture = annotate(frame, [face for _, face in tracked])
                    writer.write(cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
                    table.writerows(_timeline_rows(frame_count, frame_count / fps, tracked))
                    frame_count, face_count = frame_count + 1, face_count + len(tracked)
                advance(len(frames))
        except KeyboardInterrupt:  # the way to stop a webcam; keep what was written
            pass
        finally:
            capture.release()
            if writer is not None:
                writer.release()
    if frame_count == 0:
        raise ValueError(f"{source}: no frames could be read")
    return VideoSummary(frame_count, face_count, video_path, timeline_path)


def _timeline_rows(frame: int, time_s: float, tracked: list[tuple[int, FaceResult]]) -> list[dict]:
    """One row per tracked face, or one row without a face."""
    stamp = {"frame": frame, "time_s": round(time_s, 4)}
    return [{**stamp, "track": tid, **face.table_row()} for tid, face in tracked] or [stamp]


def _batches(
    capture: cv2.VideoCapture, batch_size: int, max_frames: int | None
) -> Iterator[list[np.ndarray]]:
    read = 0
    while max_frames is None or read < max_frames:
        frames = []
        while len(frames) < batch_size and (max_frames is None or read < max_frames):
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            read += 1
        if not frames:
            return
        yield frames


def _open_writer(path: Path, fps: float, shape: tuple[int, ...]) -> cv2.VideoWriter:
    height, width = shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise ValueError(f"{path}: OpenCV cannot write an mp4v video here")
    return writer


@contextmanager
def _progress(enabled: bool, total: int | None, name: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar, yielding ``advance(n)``; a no-op when disabled."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import Progress

    with Progress() as bar:
        task = bar.add_task(f"frames of {name}", total=total)
        yield lambda n: bar.advance(task, n)
