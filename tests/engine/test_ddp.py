"""Two training processes on the CPU (Lightning's ``ddp`` with the gloo backend) on real CK+48
faces: the ranks draw different batches, agree on validation scores, BatchNorm statistics and
weights, write one set of checkpoints and logs, and a killed job resumes where it stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from feratt.config import ExperimentConfig

WORKER = Path(__file__).with_name("ddp_worker.py")

# 4 steps per epoch and rank, 2 epochs; the FERAtt model, so G_att, G_rec and G_rep all train.
SETTINGS = (
    "data.mode=mixed",
    "data.steps_per_epoch=4",
    "train.max_epochs=2",
    "train.precise_bn_batches=2",
    "train.grid_every_n_epochs=0",
)
DDP = ("train.devices=2", "train.strategy=ddp")


def _run(config: ExperimentConfig, records: Path, kill_at: int | None = None) -> int:
    """Train `config` in a fresh process group (its own session, so a kill takes every rank)."""
    records.mkdir(parents=True, exist_ok=True)
    config_file = records / "config.yaml"
    config_file.write_text(yaml.safe_dump(config.to_dict()))
    command = [sys.executable, str(WORKER), str(config_file), str(records)]
    command += [str(kill_at)] if kill_at is not None else []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env,
                         start_new_session=True)  # fmt: skip
    assert run.returncode in (0, -signal.SIGKILL), run.stderr[-3000:]
    return run.returncode


def _events(records: Path, rank: int, event: str) -> list[dict]:
    lines = (records / f"rank{rank}.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == event]


def _run_files(config: ExperimentConfig) -> list[str]:
    return sorted(p.relative_to(config.run_dir).as_posix() for p in config.run_dir.rglob("*")
                  if p.is_file())  # fmt: skip


@pytest.mark.slow
def test_two_processes_train_one_model_on_different_batches(
    tiny_config: Callable[..., ExperimentConfig], tmp_path: Path
) -> None:
    # The last two steps with frozen attention modules, which then get no gradients.
    config = tiny_config(*SETTINGS, *DDP, "train.attention_freeze_step=6", "name=ddp")
    assert _run(config, tmp_path / "ddp") == 0
    records = tmp_path / "ddp"
    assert not (records / "rank2.jsonl").exists()

    batches = [_events(records, rank, "batch") for rank in (0, 1)]
    assert [b["step"] for b in batches[0]] == [b["step"] for b in batches[1]] == list(range(8))
    assert {b["world"] for b in batches[0] + batches[1]} == {2}
    for first, second in zip(*batches, strict=True):
        assert first["image"] != second["image"], f"step {first['step']}: the same batch twice"

    # Validation shards are reduced: both ranks log the same score; precise BatchNorm statistics
    # (each rank drew its own batches) are averaged, and DDP keeps the weights in step.
    validations = [_events(records, rank, "val") for rank in (0, 1)]
    assert [v["step"] for v in validations[0]] == [4, 8]
    assert [v["acc"] for v in validations[0]] == [v["acc"] for v in validations[1]]
    statistics = [[v["bn"] for v in _events(records, rank, "bn")] for rank in (0, 1)]
    assert len(statistics[0]) == 2 and statistics[0] == statistics[1]
    ends = [_events(records, rank, "end") for rank in (0, 1)]
    assert ends[0][0]["weights"] == ends[1][0]["weights"]
    assert ends[0][0]["step"] == 8

    # One set of files, the same as a single-process run writes.
    single = tiny_config(*SETTINGS, "train.attention_freeze_step=6", "name=single")
    assert _run(single, tmp_path / "single") == 0
    assert _run_files(config) == _run_files(single)
    assert [p.name for p in config.run_dir.glob("csv/version_*")] == ["version_0"]
    best = torch.load(config.run_dir / "model-best.pt", weights_only=True)["metadata"]
    assert best["val/acc"] == max(v["acc"] for v in validations[0])


@pytest.mark.slow
def test_killed_two_process_run_resumes_from_its_last_checkpoint(
    tiny_config: Callable[..., ExperimentConfig], tmp_path: Path
) -> None:
    config = tiny_config(*SETTINGS, *DDP, "name=ddp")
    records = tmp_path / "records"
    assert _run(config, records, kill_at=4) == -signal.SIGKILL
    assert not (config.run_dir / "model-last.pt").exists()
    assert torch.load(config.run_dir / "checkpoints" / "last.ckpt")["global_step"] == 4

    killed = {rank: len(_events(records, rank, "batch")) for rank in (0, 1)}
    assert _run(config, records) == 0
    for rank in (0, 1):
        assert [s["step"] for s in _events(records, rank, "start")] == [0, 4]
        steps = [b["step"] for b in _events(records, rank, "batch")]
        # A rank may have started step 4 before the kill reached it; the resumed job redoes it.
        assert steps[: killed[rank]][:4] == list(range(4))
        assert steps[killed[rank] :] == list(range(4, 8)), f"rank {rank} replayed or skipped"
    assert torch.load(config.run_dir / "model-last.pt")["metadata"]["global_step"] == 8
