"""Videos: an mp4 of real face frames becomes an annotated video and a per-frame timeline."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from feratt.cli import main
from feratt.inference import FaceResult
from feratt.inference.video import FaceTracker, box_iou

FRAMES, SIDE = 10, 320


def _write_video(path, astronaut) -> None:
    """The astronaut drifting right by 3 pixels a frame, with one blank frame in the middle."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (SIDE, SIDE))
    base = cv2.resize(cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR), (SIDE, SIDE))
    for index in range(FRAMES):
        shift = np.float32([[1, 0, 3 * index], [0, 1, 0]])
        frame = cv2.warpAffine(base, shift, (SIDE, SIDE), borderMode=cv2.BORDER_REPLICATE)
        writer.write(np.zeros_like(frame) if index == 5 else frame)
    writer.release()


def _frames(path) -> list[np.ndarray]:
    """The video's frames as RGB, decoded as `feratt predict` decodes them."""
    capture, frames = cv2.VideoCapture(str(path)), []
    while (read := capture.read())[0]:
        frames.append(cv2.cvtColor(read[1], cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def _smoothed(recognizer, frames, smooth: float) -> list[np.ndarray | None]:
    """Per frame, the face's probabilities averaged over the frames before (None: no face):
    p_t = smooth * p_(t-1) + (1 - smooth) * q_t, q_t from `Recognizer.predict` on frame t."""
    expected, state = [], None
    for frame in frames:
        faces = recognizer.predict(frame)
        if not faces:
            expected.append(None)
            continue
        current = faces[0].probability_vector()
        state = current if state is None else smooth * state + (1 - smooth) * current
        expected.append(state)
    return expected


def test_video_gives_annotated_video_and_timeline(
    checkpoint, recognizer, astronaut, classes, tmp_path
):
    video = tmp_path / "clip.mp4"
    _write_video(video, astronaut)
    out = tmp_path / "out"
    argv = ["predict", str(video), "-c", str(checkpoint), "--out", str(out), "--batch-size", "4"]
    assert main([*argv, "--smooth", "0.6"]) == 0

    capture = cv2.VideoCapture(str(out / "clip_annotated.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    ok, frame = capture.read()
    assert ok and frame.shape == (SIDE, SIDE, 3)
    capture.release()

    with open(out / "clip_timeline.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted({int(row["frame"]) for row in rows}) == list(range(FRAMES))
    faces = [row for row in rows if row["label"]]
    expected = _smoothed(recognizer, _frames(video), 0.6)
    assert [int(row["frame"]) for row in faces] == [
        t for t, p in enumerate(expected) if p is not None
    ]
    for row in faces:
        probabilities = expected[int(row["frame"])]
        assert row["label"] == classes[int(np.argmax(probabilities))]
        got = [float(row[f"p_{c}"]) for c in classes]
        np.testing.assert_allclose(got, probabilities, atol=2e-6, err_msg=row["frame"])
    # The face keeps its track in every frame, across the blank one (which has no face).
    tracked = {int(row["frame"]) for row in faces if row["track"] == "0"}
    assert tracked == set(range(FRAMES)) - {5}
    assert [row["label"] for row in rows if row["frame"] == "5"] == [""]
    assert float(rows[1]["time_s"]) == pytest.approx(0.1)


def _face(box, probabilities) -> FaceResult:
    probabilities = np.asarray(probabilities, float)
    names = [f"c{i}" for i in range(len(probabilities))]
    return FaceResult(
        box=box,
        label="",
        label_index=0,
        confidence=0.0,
        probabilities=dict.fromkeys(names, 0.0),
        embedding=None,
        attention_image=None,
        attention_map=None,
        face_image=np.zeros((8, 8), np.uint8),
    ).with_probabilities(probabilities)


def test_tracker_smooths_each_track_and_separates_faces():
    tracker = FaceTracker(smooth=0.75, max_missed=1)
    first = tracker.update([_face((0, 0, 10, 10), [1.0, 0.0]), _face((50, 50, 10, 10), [0.0, 1.0])])
    assert [tid for tid, _ in first] == [0, 1]
    second = tracker.update(
        [_face((51, 50, 10, 10), [1.0, 0.0]), _face((1, 0, 10, 10), [0.0, 1.0])]
    )
    (far_id, far), (near_id, near) = second
    assert (far_id, near_id) == (1, 0)
    np.testing.assert_allclose(far.probability_vector(), [0.25, 0.75])
    np.testing.assert_allclose(near.probability_vector(), [0.75, 0.25])
    assert near.label == "c0" and near.confidence == pytest.approx(0.75)
    tracker.update([])
    tracker.update([])  # missed twice > max_missed: both tracks end
    assert tracker.update([_face((1, 0, 10, 10), [0.0, 1.0])])[0][0] == 2


def test_tracker_smoothing_is_an_exponential_average_that_outlasts_a_flicker():
    """One face drifting over seven frames, smooth=0.75: p_t = 0.75 p_(t-1) + 0.25 q_t exactly
    (dyadic values), a one-frame c1 leaves the label at c0, two frames of c1 in a row flip it."""
    tracker = FaceTracker(smooth=0.75)
    frames = [[1, 0], [1, 0], [0, 1], [1, 0], [0.5, 0.5], [0, 1], [0, 1]]
    results = [tracker.update([_face((t, 0, 10, 10), q)]) for t, q in enumerate(frames)]
    assert [tid for ((tid, _),) in results] == [0] * 7
    smoothed = [face.probability_vector() for ((_, face),) in results]
    expected = [
        [1, 0],
        [1, 0],
        [0.75, 0.25],  # the flicker
        [0.8125, 0.1875],
        [0.734375, 0.265625],
        [0.55078125, 0.44921875],  # c1 once more: still c0
        [0.4130859375, 0.5869140625],  # c1 twice: now c1
    ]
    np.testing.assert_array_equal(smoothed, expected)
    assert [face.label for ((_, face),) in results] == ["c0"] * 6 + ["c1"]
    assert results[2][0][1].confidence == 0.75


def test_box_iou_and_smoothing_bounds():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    with pytest.raises(ValueError, match="smoothing"):
        FaceTracker(smooth=1.0)
