"""The TensorBoard logger: a run's events file holds its loss terms and its attention grid."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from feratt.config import ExperimentConfig
from feratt.engine.attention_grid import GRID_WINDOW
from feratt.engine.plots import read_csv_log
from feratt.engine.train import fit

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


@pytest.mark.slow
def test_training_writes_scalars_and_the_grid(tiny_config: Callable[..., ExperimentConfig]) -> None:
    """train.logger=tensorboard leaves one events file whose train/cls per step is the CSV log's
    and whose attention grid image is the run's attention_grid.png."""
    result = fit(tiny_config("train.logger=tensorboard"))
    (events,) = (result.run_dir / "tensorboard").glob("version_0/events.out.tfevents.*")
    log = event_accumulator.EventAccumulator(str(events), size_guidance={"images": 0})
    log.Reload()

    written = [(e.step, e.value) for e in log.Scalars("train/cls_step")]
    expected = read_csv_log(result.run_dir)["train/cls_step"]
    assert [step for step, _ in written] == [step for step, _ in expected] == [0, 1]
    np.testing.assert_allclose([v for _, v in written], [v for _, v in expected], rtol=1e-6)
    assert {"train/loss_step", "train/att_step", "train/rep_step", "val/acc"} <= set(
        log.Tags()["scalars"]
    )

    (image,) = log.Images(GRID_WINDOW)
    grid = cv2.imdecode(np.frombuffer(image.encoded_image_string, np.uint8), cv2.IMREAD_COLOR)
    saved = cv2.imread(str(result.run_dir / "attention_grid.png"), cv2.IMREAD_COLOR)
    assert grid.shape == saved.shape and grid.shape[1] == 3 * 66 + 2  # 3 columns of 64 + padding
    assert np.abs(grid.astype(int) - saved).max() <= 1  # truncated vs rounded to 8 bits
