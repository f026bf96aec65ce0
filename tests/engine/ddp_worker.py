"""A training process of `test_ddp.py`: `python ddp_worker.py CONFIG RECORDS_DIR [KILL_AT_STEP]`.

Lightning's DDP launcher re-runs this script once per extra rank. Each rank appends what the test
checks to ``RECORDS_DIR/rank<r>.jsonl``: its first training batches, a checksum of its BatchNorm
statistics as each validation starts, every validation score and its weights at the end. With
KILL_AT_STEP, rank 0 kills the whole process group once ``last.ckpt`` of that step is on disk.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback

from feratt.config import load_config
from feratt.engine import train
from feratt.engine.precise_bn import batchnorm_layers


def checksum(tensors: list[torch.Tensor]) -> float:
    """A weighted sum that differs when any of the tensors differ."""
    return float(
        sum((t.double().flatten() * torch.arange(1, t.numel() + 1)).sum() for t in tensors)
    )


class Recorder(Callback):
    """Writes one JSON line per event of this rank."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _write(self, trainer: Any, **record: Any) -> None:
        path = self.folder / f"rank{trainer.global_rank}.jsonl"
        with path.open("a") as handle:
            handle.write(json.dumps({"world": trainer.world_size, **record}) + "\n")

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._write(trainer, event="start", step=trainer.global_step)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, *args: Any) -> None:
        self._write(trainer, event="batch", step=trainer.global_step,
                    image=checksum([batch.image]), label=batch.label.tolist())  # fmt: skip

    # Before the first forward of a validation (DDP's forward would broadcast rank 0's buffers).
    def on_validation_batch_start(self, trainer: Any, pl_module: Any, batch: Any,
                                  batch_idx: int, *args: Any) -> None:  # fmt: skip
        if batch_idx == 0 and not trainer.sanity_checking:
            buffers = [b for layer in batchnorm_layers(pl_module)
                       for b in (layer.running_mean, layer.running_var)]  # fmt: skip
            self._write(trainer, event="bn", step=trainer.global_step, bn=checksum(buffers))

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            acc = float(trainer.callback_metrics["val/acc"])
            self._write(trainer, event="val", step=trainer.global_step, acc=acc)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._write(trainer, event="end", step=trainer.global_step,
                    weights=checksum(list(pl_module.parameters())))  # fmt: skip


def kill_group_after(step: int) -> None:
    """Rank 0 SIGKILLs every process of the job once last.ckpt of `step` is written."""
    save = train.AtomicCheckpointIO.save_checkpoint

    def save_then_kill(self: Any, checkpoint: dict, path: Any, storage_options: Any = None) -> None:
        save(self, checkpoint, path, storage_options)
        if Path(path).name == "last.ckpt" and checkpoint["global_step"] == step:
            os.killpg(os.getpgid(0), signal.SIGKILL)

    train.AtomicCheckpointIO.save_checkpoint = save_then_kill


if __name__ == "__main__":
    torch.set_num_threads(1)
    if len(sys.argv) > 3:
        kill_group_after(int(sys.argv[3]))
    train.fit(load_config(sys.argv[1]), callbacks=[Recorder(Path(sys.argv[2]))])
