"""The visdom logger posts loss curves and the attention grid to a real visdom server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from feratt.config import ExperimentConfig
from feratt.engine.attention_grid import GRID_WINDOW
from feratt.engine.train import fit
from feratt.engine.visdom_logger import VisdomLogger

visdom = pytest.importorskip("visdom")

# The server's entry point without its start-up download of web assets (no network in tests).
SERVER = "import sys; from visdom.server.run_server import main; main()"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        client = visdom.Visdom(
            server="http://127.0.0.1", port=port, use_incoming_socket=False, raise_exceptions=True
        )
    except ConnectionError:
        return False
    return client.check_connection(timeout_seconds=1)


@pytest.fixture
def visdom_port(tmp_path: Path) -> Iterator[int]:
    """A visdom server on loopback for the test's duration; yields its port."""
    port = _free_port()
    command = [sys.executable, "-c", SERVER, "-port", str(port), "--hostname", "127.0.0.1"]
    command += ["-env_path", str(tmp_path / "visdom_envs")]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the visdom server did not start on port {port}")
            time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_window_names() -> None:
    assert VisdomLogger.window_of("train/loss_step") == "loss"
    assert VisdomLogger.window_of("val/att") == "att"
    assert VisdomLogger.window_of("train/rep_epoch") == "rep"


@pytest.mark.slow
def test_training_posts_curves_and_grid(
    visdom_port: int, tiny_config: Callable[..., ExperimentConfig]
) -> None:
    env = "feratt_test"
    config = tiny_config(
        "data.mode=synthetic",
        "train.logger=visdom",
        "train.visdom_server=http://127.0.0.1",
        f"train.visdom_port={visdom_port}",
        f"train.visdom_env={env}",
    )
    fit(config)

    client = visdom.Visdom(
        server="http://127.0.0.1",
        port=visdom_port,
        env=env,
        use_incoming_socket=False,
        raise_exceptions=True,
    )
    for window in ("loss", "cls", "att", "rep", "acc", GRID_WINDOW):
        assert client.win_exists(window, env=env), window
    loss = json.loads(client.get_window_data("loss", env=env))
    traces = {trace["name"]: trace for trace in loss["content"]["data"]}
    assert {"train/loss_step", "train/loss_epoch", "val/loss"} <= traces.keys()
    assert len(traces["train/loss_step"]["x"]) == 2  # one point per training step
    grid = json.loads(client.get_window_data(GRID_WINDOW, env=env))
    assert grid["type"] == "image"


def test_unreachable_server_is_a_clear_error() -> None:
    logger = VisdomLogger(env="x", server="http://127.0.0.1", port=_free_port())
    with pytest.raises(ConnectionError, match="no visdom server at http://127.0.0.1"):
        logger.log_metrics({"train/loss": 1.0}, step=0)
