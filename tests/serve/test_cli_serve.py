"""`feratt serve` parses its options into the app's limits, and refuses bad ones with a line."""

from __future__ import annotations

import pytest

from feratt.cli import main
from feratt.serve import server


def test_serve_builds_the_app_with_the_options(
    install_pretrained, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    install_pretrained()
    started = {}
    monkeypatch.setattr(server, "serve", lambda app, host, port: started.update(locals()))
    argv = ["serve", "--port", "8123", "--max-upload-mb", "1", "--queue", "2", "--timeout", "5"]
    assert main(argv) == 0
    assert (started["host"], started["port"]) == ("127.0.0.1", 8123)
    assert "http://127.0.0.1:8123/" in capsys.readouterr().err
    routes = {route.path for route in started["app"].routes}
    assert {"/", "/v1/predict", "/v1/model", "/healthz", "/docs"} <= routes


@pytest.mark.parametrize(
    ("option", "message"),
    [(["--port", "70000"], "--port must be"), (["--timeout", "0"], "--timeout must be")],
)
def test_bad_options_fail_with_one_line(
    option: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["serve", *option]) == 1
    assert message in capsys.readouterr().err
