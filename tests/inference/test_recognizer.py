"""The Python API on real photos: faces found, typed results, every supported input kind."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from feratt.inference import FaceResult, Recognizer
from feratt.inference.images import to_rgb_uint8
from feratt.inference.video import box_iou


@pytest.fixture(scope="module")
def recognizer(checkpoint) -> Recognizer:
    return Recognizer.from_checkpoint(checkpoint)


def test_astronaut_has_exactly_one_face_with_every_output(
    recognizer, astronaut, astronaut_face, classes
):
    faces = recognizer.predict(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert box_iou(face.box, astronaut_face) > 0.7
    assert list(face.probabilities) == list(classes)
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert face.label == max(face.probabilities, key=face.probabilities.get)
    assert face.confidence == face.probabilities[face.label]
    assert face.embedding.shape == (64,)
    assert face.attention_image.shape == (64, 64, 3)
    assert face.attention_map.shape == (len(classes), 64, 64)
    assert face.face_image.shape == (64, 64) and face.face_image.dtype == np.uint8


def test_same_face_from_path_pil_grey_rgba_and_16_bit(recognizer, astronaut, tmp_path):
    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    grey = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    inputs = {
        "path": path,
        "str": str(path),
        "pil": Image.fromarray(astronaut),
        "grey": grey,
        "rgba": rgba,
        "uint16": astronaut.astype(np.uint16) * 257,
        "grey16 png": _write_png16(tmp_path / "grey16.png", grey.astype(np.uint16) * 257),
    }
    reference = recognizer.predict(astronaut)[0]
    for name, image in inputs.items():
        faces = recognizer.predict(image)
        assert len(faces) == 1, name
        assert faces[0].box == reference.box, name
        np.testing.assert_allclose(
            faces[0].probability_vector(), reference.probability_vector(), atol=1e-5
        )


def _write_png16(path, image):
    assert cv2.imwrite(str(path), image)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    return path


def test_very_large_image_detected_on_a_downscaled_copy(recognizer, astronaut, astronaut_face):
    factor = 6
    big = cv2.resize(astronaut, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
    faces = recognizer.predict(big)
    assert len(faces) == 1
    expected = tuple(v * factor for v in astronaut_face)
    assert box_iou(faces[0].box, expected) > 0.7


def test_no_face_gives_an_empty_result(recognizer):
    assert recognizer.predict(data.coffee()) == []


def test_no_detect_takes_the_whole_crop(recognizer, fer_crops):
    faces = recognizer.predict(fer_crops[0], detect=False)
    assert len(faces) == 1 and faces[0].box == (0, 0, 48, 48)


def test_predict_batch_matches_predict(recognizer, astronaut):
    batch = recognizer.predict_batch([astronaut, data.coffee(), astronaut])
    assert [len(faces) for faces in batch] == [1, 0, 1]
    single = recognizer.predict(astronaut)[0]
    np.testing.assert_allclose(
        batch[2][0].probability_vector(), single.probability_vector(), atol=1e-5
    )


def test_baseline_has_no_attention_outputs(baseline_checkpoint, astronaut):
    face = Recognizer.from_checkpoint(baseline_checkpoint).predict(astronaut)[0]
    assert face.embedding is None and face.attention_image is None and face.attention_map is None


def test_onnx_backend_agrees_with_torch(checkpoint, recognizer, astronaut):
    onnx = Recognizer.from_checkpoint(checkpoint, backend="onnx", threads=2)
    expected, actual = recognizer.predict(astronaut)[0], onnx.predict(astronaut)[0]
    assert actual.box == expected.box and actual.label == expected.label
    np.testing.assert_allclose(actual.attention_map, expected.attention_map, atol=1e-4)


def test_smoothing_keeps_labels_consistent_with_probabilities(recognizer, astronaut, classes):
    face = recognizer.predict(astronaut)[0]
    flipped = face.with_probabilities(face.probability_vector()[::-1].copy())
    assert isinstance(flipped, FaceResult)
    assert flipped.label == classes[int(np.argmax(face.probability_vector()[::-1]))]
    assert flipped.box == face.box


def test_bad_inputs_raise_clear_errors(recognizer, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        recognizer.predict(tmp_path / "missing.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ValueError, match="notes.jpg"):
        recognizer.predict(text)
    with pytest.raises(ValueError, match="shape"):
        recognizer.predict(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        Recognizer.from_checkpoint(tmp_path / "nothing.pt")
    with pytest.raises(ValueError, match="backend"):
        Recognizer.from_checkpoint(text, backend="tensorrt")


def test_pixel_conversions():
    sixteen = np.array([[0, 257 * 200, 65535]], np.uint16)
    np.testing.assert_array_equal(to_rgb_uint8(sixteen)[0, :, 0], [0, 200, 255])
    rgba = np.array([[[200, 100, 50, 0], [200, 100, 50, 255]]], np.uint8)
    np.testing.assert_array_equal(to_rgb_uint8(rgba)[0], [[0, 0, 0], [200, 100, 50]])
    assert to_rgb_uint8(np.ones((2, 3), np.float32)).shape == (2, 3, 3)
    with pytest.raises(ValueError, match="pixel type"):
        to_rgb_uint8(np.ones((2, 2), np.int64))
