"""An interrupted run (SIGKILL anywhere: mid-epoch, at or just after an epoch-end checkpoint)
resumes from its last checkpoint to exactly the uninterrupted run: the same steps, the same
validations, the same best model and bit-identical weights."""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from feratt.cli import main
from feratt.config import ExperimentConfig
from feratt.engine.train import ResumeWarning, resume_checkpoint

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


def _lightning_state(step: int, at_last_batch_end: bool = False) -> dict:
    """The part of a Lightning checkpoint `resume_checkpoint` reads."""
    done = {"ready": step, "started": step, "processed": step, "completed": step}
    current = {**done, "completed": step - 1} if at_last_batch_end else done
    progress = {"total": done, "current": current, "is_last_batch": at_last_batch_end}
    return {"global_step": step, "loops": {"fit_loop": {"epoch_loop.batch_progress": progress}}}


def test_truncated_last_checkpoint_falls_back_to_the_newest_readable_one(
    tiny_config: Callable[..., ExperimentConfig], tmp_path: Path
) -> None:
    config = tiny_config("data.mode=real", "train.max_epochs=2", "train.grid_every_n_epochs=0")
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(config.to_dict()))
    assert main(["train", "--config", str(config_file)]) == 0
    checkpoints = config.run_dir / "checkpoints"
    last = checkpoints / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # a disk that filled up
    periodic = {p.name: p.read_bytes() for p in checkpoints.glob("epoch=*.ckpt")}
    assert sorted(periodic) == ["epoch=000-step=0000002.ckpt", "epoch=001-step=0000004.ckpt"]

    with pytest.warns(ResumeWarning, match=r"last\.ckpt cannot be read .*: resuming from .*"
                      r"epoch=001-step=0000004\.ckpt instead"):  # fmt: skip
        assert main(["train", "--config", str(config_file), "train.max_epochs=3"]) == 0
    assert torch.load(last, weights_only=True)["global_step"] == 6
    for name, content in periodic.items():  # nothing lost
        assert (checkpoints / name).read_bytes() == content
    validations = []
    for version in ("version_0", "version_1"):
        with (config.run_dir / "csv" / version / "metrics.csv").open() as handle:
            validations.append([row["step"] for row in csv.DictReader(handle) if row["val/acc"]])
    assert len(validations[0]) == 2 and len(validations[1]) == 1  # epoch 3 only: resumed at 4
    assert validations[1][0] not in validations[0]


def test_resume_passes_over_checkpoints_lightning_cannot_resume_exactly(tmp_path: Path) -> None:
    torch.save(_lightning_state(4, at_last_batch_end=True), tmp_path / "last.ckpt")
    torch.save(_lightning_state(2), tmp_path / "epoch=000-step=0000002.ckpt")
    torch.save(_lightning_state(1), tmp_path / "epoch=000-step=0000001.ckpt")
    (tmp_path / "epoch=000-step=0000003.ckpt").write_bytes(b"PK\x03\x04 cut short")
    with pytest.warns(ResumeWarning) as caught:
        assert resume_checkpoint(tmp_path) == tmp_path / "epoch=000-step=0000002.ckpt"
    (message,) = [str(w.message) for w in caught]
    assert "last.ckpt was written at the end of an epoch's last batch" in message
    assert "step=0000003.ckpt cannot be read" in message

    for path in tmp_path.glob("epoch=*"):
        path.unlink()
    with pytest.warns(ResumeWarning, match="no checkpoint to resume, training from the start"):
        assert resume_checkpoint(tmp_path) is None
    (tmp_path / "last.ckpt").unlink()
    assert resume_checkpoint(tmp_path) is None  # a fresh run folder: nothing to say


@pytest.mark.slow
def test_a_full_disk_leaves_every_checkpoint_whole(
    tiny_config: Callable[..., ExperimentConfig],
    tmp_path: Path,
    file_size_limited: Callable[..., subprocess.CompletedProcess],
) -> None:
    """A write that fails part-way (here: RLIMIT_FSIZE, as a full disk) leaves the previous files
    intact and no partial or temporary file beside them; the next run resumes."""
    config = tiny_config("data.mode=real", "train.grid_every_n_epochs=0")
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(config.to_dict()))
    assert main(["train", "--config", str(config_file)]) == 0
    before = {p: p.read_bytes() for p in config.run_dir.glob("**/*.*t") if p.is_file()}
    checkpoints = config.run_dir / "checkpoints"
    assert {p.name for p in before} >= {"last.ckpt", "best.ckpt", "model-last.pt"}
    limit = (checkpoints / "last.ckpt").stat().st_size // 2

    command = ["feratt", "train", "--config", str(config_file), "train.max_epochs=2"]
    run = file_size_limited(command, limit)
    assert run.returncode == 1, run.stderr[-2000:]
    error = run.stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"feratt train: error: {checkpoints}/\S+\.ckpt: File too large", error)
    assert {p: p.read_bytes() for p in before} == before
    after = sorted(p.name for p in config.run_dir.glob("**/*") if p.suffix in (".ckpt", ".pt"))
    assert after == sorted(p.name for p in before)
    assert not list(config.run_dir.glob("**/.*.tmp"))

    assert main(["train", "--config", str(config_file), "train.max_epochs=2"]) == 0
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["global_step"] == 4
