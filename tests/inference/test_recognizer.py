"""The Python API on real photos: faces found, typed results, every supported input kind."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from model_reference import assert_faces_match
from PIL import Image
from skimage import data

from feratt.inference import FaceResult, Recognizer
from feratt.inference.images import to_rgb_uint8
from feratt.inference.video import box_iou


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


def test_no_detect_takes_the_whole_crop(recognizer, fer_crops, crop_probabilities, classes):
    faces = recognizer.predict(fer_crops[0], detect=False)
    assert len(faces) == 1 and faces[0].box == (0, 0, 48, 48)
    assert_faces_match([faces], crop_probabilities[:1], classes)


def test_predict_batch_gives_each_image_its_own_faces(
    recognizer, astronaut, fer_crops, crop_probabilities, classes
):
    # Six different faces in one batch of 4 + 2: each result is the model's on that very crop.
    recognizer_in_fours = Recognizer(recognizer.backend, batch_size=4)
    batch = recognizer_in_fours.predict_batch(fer_crops, detect=False)
    assert_faces_match(batch, crop_probabilities, classes)
    # Detection: a face, none, and a different one (the mirrored photo: another box).
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    batch = recognizer.predict_batch([astronaut, data.coffee(), mirrored])
    assert [len(faces) for faces in batch] == [1, 0, 1]
    for faces, image in ((batch[0], astronaut), (batch[2], mirrored)):
        (single,) = recognizer.predict(image)
        assert faces[0].box == single.box
        np.testing.assert_allclose(
            faces[0].probability_vector(), single.probability_vector(), atol=1e-6
        )
    assert batch[0][0].box != batch[2][0].box


def test_baseline_has_no_attention_outputs(baseline_checkpoint, astronaut):
    face = Recognizer.from_checkpoint(baseline_checkpoint).predict(astronaut)[0]
    assert face.embedding is None and face.attention_image is None and face.attention_map is None


def test_onnx_backend_agrees_with_torch(
    checkpoint, recognizer, astronaut, fer_crops, crop_probabilities, classes
):
    onnx = Recognizer.from_checkpoint(checkpoint, backend="onnx", threads=2)
    expected, actual = recognizer.predict(astronaut)[0], onnx.predict(astronaut)[0]
    assert actual.box == expected.box and actual.label == expected.label
    scale = np.abs(expected.attention_map).max()
    np.testing.assert_allclose(actual.attention_map, expected.attention_map, atol=1e-4 * scale)
    assert_faces_match(onnx.predict_batch(fer_crops, detect=False), crop_probabilities, classes)


def test_other_probabilities_bring_their_own_label(recognizer, astronaut, classes):
    face = recognizer.predict(astronaut)[0]
    assert face.label == "happy"
    vector = [0.1, 0.2, 0.4, 0.1, 0.1, 0.05, 0.05]
    surprised = face.with_probabilities(np.array(vector))
    assert isinstance(surprised, FaceResult)
    assert (surprised.label, surprised.label_index, surprised.confidence) == ("surprise", 2, 0.4)
    assert surprised.probabilities == dict(zip(classes, vector, strict=True))
    assert surprised.box == face.box


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
