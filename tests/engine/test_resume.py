"""An interrupted run (SIGKILL anywhere: mid-epoch, at or just after an epoch-end checkpoint)
resumes from its last checkpoint to exactly the uninterrupted run: the same steps, the same
validations, the same best model and bit-identical weights."""

from __future__ import annotations

import json
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

# 4 steps per epoch, 3 epochs, periodic checkpoints every 2 steps: steps 4 and 8 end an epoch.
SETTINGS = (
    "model.name=preactresnet18",
    "data.mode=mixed",
    "data.steps_per_epoch=4",
    "train.max_epochs=3",
    "train.checkpoint_every_n_steps=2",
    "train.grid_every_n_epochs=0",
)

# Every run goes through this script, so that all run in identically set-up processes. Kill
# points: "step:N" (on_train_batch_end of step N, after the checkpoint callbacks of that hook),
# "saved:NAME:N" (as soon as checkpoint NAME is written at step N), "epoch-start:E".
TRAIN_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    import torch
    from lightning.pytorch.callbacks import Callback
    from feratt.config import load_config
    from feratt.engine import train

    torch.set_num_threads(1)
    kind, _, point = sys.argv[2].partition(":")
    validations = Path(sys.argv[3])

    def kill():
        os.kill(os.getpid(), signal.SIGKILL)

    class Killer(Callback):
        def on_train_batch_end(self, trainer, *args):
            if kind == "step" and trainer.global_step == int(point):
                kill()

        def on_train_epoch_start(self, trainer, *args):
            if kind == "epoch-start" and trainer.current_epoch == int(point):
                kill()

        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking:
                record = {"epoch": trainer.current_epoch, "step": trainer.global_step,
                          "acc": float(trainer.callback_metrics["val/acc"])}
                with validations.open("a") as handle:
                    handle.write(json.dumps(record) + "\\n")

    save = train.AtomicCheckpointIO.save_checkpoint

    def save_then_kill(self, checkpoint, path, storage_options=None):
        save(self, checkpoint, path, storage_options)
        name, _, step = point.partition(":")
        if kind == "saved" and Path(path).name == name and checkpoint["global_step"] == int(step):
            kill()

    train.AtomicCheckpointIO.save_checkpoint = save_then_kill
    train.fit(load_config(sys.argv[1]), callbacks=[Killer()])
    """
)


def _train(config: ExperimentConfig, folder: Path, kill: str = "none") -> int:
    """Run `config` in a fresh Python process; its exit status."""
    config_file = folder / f"{config.name}.yaml"
    config_file.write_text(yaml.safe_dump(config.to_dict()))
    script = folder / "train_script.py"
    script.write_text(TRAIN_SCRIPT)
    validations = folder / f"{config.name}-validations.jsonl"
    command = [sys.executable, str(script), str(config_file), kill, str(validations)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode in (0, -signal.SIGKILL), run.stderr[-3000:]
    assert "ResumeWarning" not in run.stderr
    return run.returncode


def _validations(config: ExperimentConfig, folder: Path) -> dict[tuple[int, int], float]:
    """(epoch, step) -> val/acc of every validation any process of the run finished; one that
    ran twice (killed before its checkpoint, replayed) must have given the same score."""
    seen: dict[tuple[int, int], float] = {}
    for line in (folder / f"{config.name}-validations.jsonl").read_text().splitlines():
        record = json.loads(line)
        key = (record["epoch"], record["step"])
        assert seen.setdefault(key, record["acc"]) == record["acc"], f"validation {key} differs"
    return seen


def _assert_same_weights(resumed: Path, reference: Path) -> dict:
    resumed_file, reference_file = torch.load(resumed), torch.load(reference)
    resumed_state, reference_state = resumed_file["state_dict"], reference_file["state_dict"]
    assert resumed_state.keys() == reference_state.keys()
    for name, value in reference_state.items():
        difference = (resumed_state[name].double() - value.double()).abs().max()
        assert torch.equal(resumed_state[name], value), f"{resumed.name}: {name} off {difference}"
    return resumed_file["metadata"], reference_file["metadata"]


@pytest.fixture
def reference_run(tiny_config: Callable[..., ExperimentConfig], tmp_path: Path) -> ExperimentConfig:
    reference = tiny_config(*SETTINGS, "name=uninterrupted")
    assert _train(reference, tmp_path) == 0
    return reference


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kills", "last_step_after_kills"),
    [
        pytest.param(["step:7"], 6, id="mid-epoch-after-a-step-checkpoint"),
        pytest.param(["saved:last.ckpt:4"], 4, id="at-the-epoch-end-checkpoint"),
        pytest.param(["step:4"], 2, id="at-the-last-batch-of-an-epoch"),
        pytest.param(["epoch-start:1", "step:9"], 8, id="just-after-epoch-end-checkpoints"),
        pytest.param(
            ["saved:epoch=000-step=0000004.ckpt:4", "saved:last.ckpt:8"],
            8,
            id="at-two-epoch-ends-as-the-files-appear",
        ),
    ],
)
def test_killed_run_resumes_to_the_uninterrupted_run(
    tiny_config: Callable[..., ExperimentConfig],
    reference_run: ExperimentConfig,
    tmp_path: Path,
    kills: list[str],
    last_step_after_kills: int,
) -> None:
    config = tiny_config(*SETTINGS, "name=interrupted")
    checkpoints = config.run_dir / "checkpoints"
    for kill in kills:
        assert _train(config, tmp_path, kill) == -signal.SIGKILL
        assert not (config.run_dir / "model-last.pt").exists()
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)
    assert last["global_step"] == last_step_after_kills
    assert _train(config, tmp_path) == 0

    reference = reference_run
    assert len(list(config.run_dir.glob("csv/version_*"))) == len(kills) + 1
    assert _validations(config, tmp_path) == _validations(reference, tmp_path)
    assert [k[1] for k in _validations(reference, tmp_path)] == [4, 8, 12]
    metadata, reference_metadata = _assert_same_weights(
        config.run_dir / "model-last.pt", reference.run_dir / "model-last.pt"
    )
    assert metadata["global_step"] == reference_metadata["global_step"] == 12
    assert metadata["epoch"] == reference_metadata["epoch"]
    best, reference_best = _assert_same_weights(
        config.run_dir / "model-best.pt", reference.run_dir / "model-best.pt"
    )
    assert best["val/acc"] == reference_best["val/acc"]
    assert Path(best["source"]).name == Path(reference_best["source"]).name == "best.ckpt"
    best_step = torch.load(checkpoints / "best.ckpt", weights_only=True)["global_step"]
    reference_checkpoints = reference.run_dir / "checkpoints"
    assert best_step == torch.load(reference_checkpoints / "best.ckpt")["global_step"]
    # Same files: nothing versioned (-v1) or left half-written by the killed processes.
    assert sorted(p.name for p in checkpoints.iterdir()) == sorted(
        p.name for p in reference_checkpoints.iterdir()
    )
