"""Limits on a real server on loopback: a full queue answers 503 at once, a slow model 504 (the
places free again afterwards), a stalled upload 408."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence

import httpx
import pytest

from feratt.inference import Recognizer
from feratt.inference.recognizer import FaceResult
from feratt.serve import ServeSettings, create_app
from feratt.serve.server import running


class _GatedRecognizer(Recognizer):
    """The shipped model, but each batch waits until the test opens the gate."""

    def __init__(self, model: Recognizer) -> None:
        super().__init__(model.backend, model.detector)
        self.started, self.gate = threading.Event(), threading.Event()

    def predict_batch(self, images: Sequence, detect: bool = True) -> list[list[FaceResult]]:
        self.started.set()
        self.gate.wait(timeout=30)
        return super().predict_batch(images, detect)


def _wait_for_busy(url: str, busy: int) -> None:
    deadline = time.monotonic() + 30
    while httpx.get(f"{url}/healthz").json()["busy"] != busy:
        assert time.monotonic() < deadline, f"never {busy} requests in progress"
        time.sleep(0.01)


def _post(url: str, png: bytes, answers: list[httpx.Response]) -> None:
    files = [("images", ("a.png", png, "image/png"))]
    answers.append(httpx.post(f"{url}/v1/predict", files=files, timeout=60))


@pytest.mark.parametrize("waiting", [0, 1])
def test_a_full_queue_answers_503_and_recovers(
    shipped: Recognizer, astronaut_png: bytes, waiting: int
) -> None:
    model = _GatedRecognizer(shipped)
    app = create_app(model, settings=ServeSettings(workers=1, waiting=waiting))
    with running(app) as url:
        answers: list[httpx.Response] = []
        held = [threading.Thread(target=_post, args=(url, astronaut_png, answers))]
        held[0].start()
        assert model.started.wait(timeout=30)
        for _ in range(waiting):  # fill the waiting places
            held.append(threading.Thread(target=_post, args=(url, astronaut_png, answers)))
            held[-1].start()
        _wait_for_busy(url, 1 + waiting)
        refused = httpx.post(f"{url}/v1/predict", files=[("images", ("a.png", astronaut_png))])
        assert refused.status_code == 503 and "busy" in refused.json()["detail"]
        assert refused.headers["retry-after"] == "1"
        model.gate.set()
        for thread in held:
            thread.join(timeout=60)
        assert [a.status_code for a in answers] == [200] * (1 + waiting)
        assert httpx.get(f"{url}/healthz").json()["busy"] == 0
        again = httpx.post(f"{url}/v1/predict", files=[("images", ("a.png", astronaut_png))])
        assert (
            again.status_code == 200 and again.json()["images"][0]["faces"][0]["label"] == "happy"
        )


def test_a_slow_model_answers_504_and_keeps_its_place_until_done(
    shipped: Recognizer, astronaut_png: bytes
) -> None:
    model = _GatedRecognizer(shipped)
    app = create_app(model, settings=ServeSettings(waiting=0, timeout_s=0.3))
    with running(app) as url:
        late = httpx.post(f"{url}/v1/predict", files=[("images", ("a.png", astronaut_png))])
        assert late.status_code == 504 and "0.3 s" in late.json()["detail"]
        assert httpx.get(f"{url}/healthz").json()["busy"] == 1  # still running: bound holds
        model.gate.set()
        _wait_for_busy(url, 0)
        ok = httpx.post(f"{url}/v1/predict", files=[("images", ("a.png", astronaut_png))])
        assert ok.status_code == 200


def test_a_stalled_upload_answers_408(shipped: Recognizer) -> None:
    app = create_app(shipped, settings=ServeSettings(read_timeout_s=0.3))
    with running(app) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            head = (
                "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n"
            )
            sock.sendall(head.encode())  # ... and nothing more
            answer = ""
            while not answer.endswith("}"):  # the JSON body may come in a later packet
                chunk = sock.recv(4096).decode()
                assert chunk, answer
                answer += chunk
        assert answer.startswith("HTTP/1.1 408"), answer
        assert "no request data for 0.3 s" in answer
