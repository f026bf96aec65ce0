"""An interrupted run (SIGKILL mid-epoch) resumes from its last checkpoint to identical weights."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from feratt.config import ExperimentConfig

KILL_AT_STEP = 7  # mid-epoch 2 (steps 4-7), one step after the step-6 checkpoint

# Every run goes through this script, so that all run in identically set-up processes.
TRAIN_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    from feratt.config import load_config
    from feratt.engine.module import FERAttModule
    from feratt.engine.train import fit

    torch.set_num_threads(1)
    kill_at_step = int(sys.argv[2])

    def on_train_batch_end(self, outputs, batch, batch_idx):
        # Runs after the checkpoint callbacks of the same step.
        if self.global_step == kill_at_step:
            os.kill(os.getpid(), signal.SIGKILL)

    FERAttModule.on_train_batch_end = on_train_batch_end
    fit(load_config(sys.argv[1]))
    """
)


def _train(config: ExperimentConfig, folder: Path, kill_at_step: int = -1) -> int:
    """Run `config` in a fresh Python process; its exit status."""
    config_file = folder / f"{config.name}.yaml"
    config_file.write_text(yaml.safe_dump(config.to_dict()))
    script = folder / "train_script.py"
    script.write_text(TRAIN_SCRIPT)
    command = [sys.executable, str(script), str(config_file), str(kill_at_step)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode in (0, -signal.SIGKILL), run.stderr[-3000:]
    return run.returncode


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(
    tiny_config: Callable[..., ExperimentConfig], tmp_path: Path
) -> None:
    settings = (
        "model.name=preactresnet18",
        "data.mode=mixed",
        "data.steps_per_epoch=4",
        "train.max_epochs=2",
        "train.checkpoint_every_n_steps=2",
        "train.grid_every_n_epochs=0",
    )
    config = tiny_config(*settings, "name=interrupted")
    assert _train(config, tmp_path, KILL_AT_STEP) == -signal.SIGKILL
    checkpoints = config.run_dir / "checkpoints"
    assert torch.load(checkpoints / "last.ckpt", weights_only=False)["global_step"] == 6
    assert not (config.run_dir / "model-last.pt").exists()

    assert _train(config, tmp_path) == 0
    reference = tiny_config(*settings, "name=uninterrupted")
    assert _train(reference, tmp_path) == 0

    assert len(list(config.run_dir.glob("csv/version_*"))) == 2  # the killed run and the resumed
    resumed_state = torch.load(config.run_dir / "model-last.pt")["state_dict"]
    reference_state = torch.load(reference.run_dir / "model-last.pt")["state_dict"]
    assert resumed_state.keys() == reference_state.keys()
    for name, value in reference_state.items():
        difference = (resumed_state[name].double() - value.double()).abs().max()
        assert torch.equal(resumed_state[name], value), f"{name} differs by {difference}"
