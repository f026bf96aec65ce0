"""The HTTP API on real faces: schema, faces and labels as `Recognizer` gives them, and a clear
4xx (never a 500) for each kind of bad request."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from serving import ASTRONAUT_FACE, make_client, png_bytes
from skimage import data

from feratt.inference import Recognizer
from feratt.serve.schemas import ModelInfo, Prediction


def _upload(*files: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", (name, content, "application/octet-stream")) for name, content in files]


def _png(text: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(base64.b64decode(text), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_astronaut_is_one_happy_face_with_its_attention(
    client: TestClient, shipped: Recognizer, astronaut_png: bytes
) -> None:
    response = client.post("/v1/predict?attention=true", files=_upload(("a.png", astronaut_png)))
    assert response.status_code == 200
    result = Prediction.model_validate(response.json())
    assert result.model == "fer2013_feratt"
    (image,) = result.images
    assert (image.filename, image.width, image.height) == ("a.png", 512, 512)
    (face,) = image.faces
    assert face.label == "happy"
    assert list(face.probabilities) == list(shipped.classes)
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    box = face.box
    assert np.allclose([box.x, box.y, box.w, box.h], ASTRONAUT_FACE, atol=6)
    (direct,) = shipped.predict(data.astronaut())  # the same pipeline as `feratt predict`
    assert face.probabilities == pytest.approx(direct.probabilities, abs=1e-6)
    assert face.images is not None
    for tile in (face.images.input, face.images.attention_image, face.images.attention_map):
        assert _png(tile).shape == (128, 128, 3)
    assert not np.array_equal(_png(face.images.input), _png(face.images.attention_map))


def test_fer2013_crops_in_one_request_match_the_recognizer(
    client: TestClient, shipped: Recognizer, fer_crops: list[Path]
) -> None:
    files = _upload(*((p.name, p.read_bytes()) for p in fer_crops))
    response = client.post("/v1/predict?detect=false", files=files)
    assert response.status_code == 200
    images = Prediction.model_validate(response.json()).images
    assert [i.filename for i in images] == [p.name for p in fer_crops]
    direct = shipped.predict_batch(fer_crops, detect=False)
    for image, faces in zip(images, direct, strict=True):
        (face,) = image.faces
        assert (face.box.w, face.box.h) == (48, 48) and face.images is None
        assert face.label == faces[0].label
        assert face.confidence == pytest.approx(faces[0].confidence, abs=1e-6)
    assert [i.faces[0].label for i in images[:2]] == ["happy", "happy"]


def test_no_face_gives_an_empty_list(client: TestClient) -> None:
    board = png_bytes(np.repeat(data.checkerboard()[:, :, None], 3, axis=2))
    response = client.post("/v1/predict", files=_upload(("board.png", board)))
    assert response.status_code == 200
    assert response.json()["images"][0]["faces"] == []


def test_model_and_health(client: TestClient, shipped: Recognizer) -> None:
    info = ModelInfo.model_validate(client.get("/v1/model").json())
    assert info.classes == list(shipped.classes) and info.architecture == "feratt_rep_cls"
    assert info.attention and info.input_size == 64 and info.temperature == shipped.temperature
    assert client.get("/healthz").json() == {"status": "ok", "busy": 0}


def test_corrupt_and_text_files_are_refused_naming_the_file(
    client: TestClient, astronaut_png: bytes
) -> None:
    jpeg = cv2.imencode(".jpg", data.astronaut())[1].tobytes()
    cases = {
        "cut.jpg": (jpeg[: len(jpeg) // 2], "truncated JPEG"),
        "cut.png": (astronaut_png[:-40], "truncated PNG"),
        "notes.txt": (b"these are not pixels\n" * 20, "not an image"),
        "empty.png": (b"", "empty"),
    }
    for name, (content, reason) in cases.items():
        response = client.post(
            "/v1/predict", files=_upload(("ok.png", astronaut_png), (name, content))
        )
        assert response.status_code == 415, (name, response.text)
        assert name in response.json()["detail"] and reason in response.json()["detail"]


def test_oversize_requests_are_refused_with_the_limit(
    shipped: Recognizer, astronaut_png: bytes
) -> None:
    limits = {"max_pixels": 200_000, "max_upload_bytes": 2_000_000, "max_images": 3}
    with make_client(shipped, **limits) as small:
        response = small.post("/v1/predict", files=_upload(("big.png", astronaut_png)))
        assert response.status_code == 413
        assert "262,144 pixels (512x512), over the limit of 200,000" in response.json()["detail"]
        noise = np.random.default_rng(0).integers(0, 256, (900, 900, 3), np.uint8)
        response = small.post("/v1/predict", files=_upload(("noise.png", png_bytes(noise))))
        assert response.status_code == 413  # 2.4 MB of incompressible pixels
        tiny = png_bytes(data.astronaut()[::4, ::4])
        response = small.post("/v1/predict", files=_upload(*[("t.png", tiny)] * 4))
        assert response.status_code == 413 and "at most 3" in response.json()["detail"]


def test_malformed_requests_get_a_422_that_says_what_is_missing(client: TestClient) -> None:
    for response in (
        client.post("/v1/predict"),
        client.post("/v1/predict", data={"note": "no file"}),
        client.post("/v1/predict", files=[("photo", ("a.png", b"x", "image/png"))]),
    ):
        assert response.status_code == 422
        assert response.json() == {
            "detail": "no images: send one or more files in the multipart field 'images'"
        }
    response = client.post("/v1/predict?detect=perhaps", files=_upload(("a.png", b"x")))
    assert response.status_code == 422 and response.json()["detail"].startswith("detect:")


def test_docs_page_loads_no_asset_from_the_internet(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    sources = [part.split('"')[1] for part in page.text.split("src=")[1:]]
    sources += [part.split('"')[1] for part in page.text.split("href=")[1:]]
    assert sources and all(s.startswith("/") for s in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200, source
    assert "/v1/predict" in client.get("/openapi.json").json()["paths"]
    index = client.get("/")
    assert index.status_code == 200 and "http" not in index.text.replace("http-equiv", "")
