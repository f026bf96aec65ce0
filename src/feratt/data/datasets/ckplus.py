"""CK+ (extended Cohn-Kanade) full release: image sequences, emotion codes and 68 landmarks.

Layout: ``cohn-kanade-images/S###/###/S###_###_########.png``,
``Emotion/S###/###/*_emotion.txt`` (one float code, 0-7) and
``Landmarks/S###/###/*_landmarks.txt`` (68 lines of "x y"). The usual protocol labels the last
frames of each labelled sequence with its emotion and its first frame as neutral.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from feratt.data.datasets.base import FaceDataset, RecordInfo, SkipLog
from feratt.data.datasets.registry import register_format
from feratt.data.io import read_image
from feratt.data.labels import canonical, ordered_classes

# The code table of CK+'s Emotion files.
CKPLUS_CODES = ("neutral", "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
IMAGES, EMOTION, LANDMARKS = "cohn-kanade-images", "Emotion", "Landmarks"


def read_landmarks(path: str | Path, points: int = 68) -> np.ndarray:
    """A CK+ landmark file as float32 (points, 2); ValueError naming the file when malformed."""
    try:
        values = np.loadtxt(path, dtype=np.float32, ndmin=2)
    except ValueError as err:
        raise ValueError(f"landmark file {path} is malformed: {err}") from err
    if values.shape != (points, 2):
        raise ValueError(
            f"landmark file {path} has shape {values.shape}; expected {points} lines of 'x y'"
        )
    return values


def read_emotion_code(path: Path) -> int:
    """The integer code of a CK+ emotion file (one float such as `3.0000000e+00`)."""
    text = path.read_text().split()
    try:
        if len(text) != 1:
            raise ValueError
        value = float(text[0])
    except ValueError:
        raise ValueError(
            f"emotion file {path} is malformed: expected one number (a code 0-7), got {text[:3]}"
        ) from None
    if value != int(value) or not 0 <= value < len(CKPLUS_CODES):
        raise ValueError(f"emotion file {path} has code {value}; expected an integer 0-7")
    return int(value)


def _read_ckplus_frame(info: RecordInfo) -> tuple[np.ndarray, np.ndarray | None]:
    landmarks = None if info.extra is None else read_landmarks(info.extra)
    return read_image(info.path), landmarks


def _detect(root: Path) -> bool:
    return (root / IMAGES).is_dir()


@register_format(
    "ckplus",
    f"CK+ release: {IMAGES}/S###/###/*.png with {EMOTION}/S###/###/*_emotion.txt "
    f"(codes 0-7) and optional {LANDMARKS}/",
    _detect,
)
def load_ckplus(
    root: Path, *, skip_corrupt: bool = False, frames: int = 3, neutral_frames: int = 1
) -> FaceDataset:
    """CK+ sequences: the last `frames` frames carry the label, the first `neutral_frames` are
    neutral (0 leaves neutral out, giving 7 classes)."""
    if frames < 1 or neutral_frames < 0:
        raise ValueError(
            f"CK+ needs frames >= 1 and neutral_frames >= 0, got {frames}, {neutral_frames}"
        )
    emotion_root = root / EMOTION
    if not emotion_root.is_dir():
        raise FileNotFoundError(
            f"CK+ label folder {emotion_root} not found; expected {EMOTION}/S###/###/*_emotion.txt "
            f"next to {IMAGES}/"
        )
    names = [canonical(c) for c in CKPLUS_CODES]
    classes = ordered_classes(names if neutral_frames else names[1:])
    log = SkipLog(skip_corrupt)
    records: list[RecordInfo] = []
    sources: list[str] = []
    labelled: set[Path] = set()
    for emotion_file in sorted(emotion_root.glob("S*/*/*_emotion.txt")):
        sequence = emotion_file.parent.relative_to(emotion_root)
        labelled.add(sequence)
        try:
            name = names[read_emotion_code(emotion_file)]
        except ValueError as err:
            log.problem(emotion_file, str(err))
            continue
        image_dir = root / IMAGES / sequence
        frame_files = sorted(image_dir.glob("*.png")) if image_dir.is_dir() else []
        if not frame_files:
            log.problem(image_dir, f"no frames (*.png) for the labelled sequence {emotion_file}")
            continue
        sources.append(str(emotion_file))
        peak = frame_files[-frames:]
        first = [f for f in frame_files[:neutral_frames] if f not in peak]
        for frame_names, label_name in ((first, "neutral"), (peak, name)):
            if label_name not in classes:
                continue
            for frame in frame_names:
                landmark_file = root / LANDMARKS / sequence / f"{frame.stem}_landmarks.txt"
                extra = str(landmark_file) if landmark_file.is_file() else None
                if extra:
                    sources.append(extra)
                subject = sequence.parts[0]
                records.append(
                    RecordInfo(str(frame), classes.index(label_name), subject, extra=extra)
                )
    unlabelled = sum(
        1
        for d in (root / IMAGES).glob("S*/*")
        if d.is_dir() and d.relative_to(root / IMAGES) not in labelled
    )
    return FaceDataset(
        records,
        classes,
        "ckplus",
        root,
        _read_ckplus_frame,
        skip_corrupt=skip_corrupt,
        skipped=log.skipped,
        dropped={"unlabelled sequences": unlabelled} if unlabelled else None,
        sources=sources,
    )
