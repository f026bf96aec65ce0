"""End-to-end training throughput in synthetic mode: data sampling + compositor + model + optimiser.

Runs the real engine (FERAttDataModule + FERAttModule on a Lightning Trainer, through
`feratt.engine.train.fit`) on procedural faces and backgrounds, so it needs no data set. Prints
images/s of the full training step, of the data side alone (class-balanced sampling and
compositing on the device) and the share of a step's time that the data side takes.

    python benchmarks/train_e2e.py                      # CPU: small width and batch
    python benchmarks/train_e2e.py --device cuda        # GPU: batch 200, bf16, channels_last
    python benchmarks/train_e2e.py --device cuda --compile
"""

from __future__ import annotations

import argparse
import tempfile
import time

import lightning as L
import torch

from feratt.config import ExperimentConfig
from feratt.data.procedural import render_backgrounds, render_faces
from feratt.engine.datamodule import FERAttDataModule
from feratt.engine.train import fit


class StepClock(L.Callback):
    """Wall time from the end of the warm-up steps to the end of the last step."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start: float | None = None
        self.end: float | None = None
        self.steps = 0

    def _now(self, device: torch.device) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *_: object
    ) -> None:
        if trainer.global_step == self.warmup:
            self.start = self._now(pl_module.device)
        elif trainer.global_step > self.warmup and trainer.global_step == trainer.max_steps:
            self.end = self._now(pl_module.device)
            self.steps = trainer.global_step - self.warmup


def data_throughput(data: FERAttDataModule, device: torch.device, steps: int) -> float:
    """Images/s of the data side alone: sampling and compositing batches on `device`."""
    data.train_batch(0, device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        data.train_batch(step, device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps * data.config.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--models", nargs="+", default=["feratt_rep_cls"])
    parser.add_argument("--batch", type=int, help="default: 200 on CUDA, 16 on CPU")
    parser.add_argument("--width", type=float, help="default: 1.0 on CUDA, 0.125 on CPU")
    parser.add_argument("--steps", type=int, help="timed steps (default: 50 CUDA, 3 CPU)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument("--threads", type=int, help="CPU threads (torch.set_num_threads)")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    batch = args.batch or (200 if cuda else 16)
    width = args.width or (1.0 if cuda else 0.125)
    steps = args.steps or (50 if cuda else 3)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if cuda else "cpu")

    faces = render_faces(n_per_class=32, size=64, seed=0)
    n_val = 16
    train, val = faces.subset(slice(n_val, None)), faces.subset(slice(0, n_val))
    backgrounds = render_backgrounds(100, size=(160, 160), seed=0)
    label = f"{args.device}, batch {batch}, width {width}, {'bf16' if cuda else 'fp32'}"
    if cuda:
        label += f", {torch.cuda.get_device_name(device)}"
    label += ", channels_last" if cuda and not args.no_channels_last else ""
    label += ", compiled" if args.compile else ""
    print(f"# train_e2e: {label}, torch {torch.__version__}, {steps} timed steps")
    print("| model | e2e images/s | data-only images/s | data share of step |")
    print("| --- | ---: | ---: | ---: |")
    for name in args.models:
        data = FERAttDataModule.from_prepared(
            train,
            val,
            None,
            backgrounds,
            mode="synthetic",
            batch_size=batch,
            steps_per_epoch=args.warmup + steps + 1,
        )
        clock = StepClock(args.warmup)
        with tempfile.TemporaryDirectory() as run_root:
            config = ExperimentConfig().replace(
                f"output_dir={run_root}",
                f"model.name={name}",
                f"model.num_classes={len(faces.classes)}",
                f"model.width={width}",
                f"train.accelerator={'gpu' if cuda else 'cpu'}",
                "train.devices=1",
                f"train.max_steps={args.warmup + steps}",
                f"train.compile={str(args.compile).lower()}",
                f"train.channels_last={str(not args.no_channels_last).lower()}",
                "train.logger=none",
                "train.progress_bar=false",
                "train.grid_every_n_epochs=0",
                "train.checkpoint_every_n_epochs=1000",
            )
            fit(config, datamodule=data, callbacks=[clock])
        e2e = clock.steps * batch / (clock.end - clock.start)
        data_only = data_throughput(data, device, max(steps // 2, 3))
        print(f"| {name} | {e2e:,.0f} | {data_only:,.0f} | {e2e / data_only:.0%} |")


if __name__ == "__main__":
    main()
