"""How much of a trained model's loss on synthetic faces is geometry? Scores one checkpoint of the
demo on its seed's test people: real faces, synthetic ones as composited, the same un-warped by the
compositor's own inverse affine (the oracle an aligner could at best reach), and the clean faces on
black, warped and un-warped. Prints one markdown row and saves a picture of the first faces.

    python benchmarks/warp_oracle.py --seed 0 --checkpoint RUN/model-best.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torchvision.utils import save_image

from feratt.checkpoint import load_checkpoint
from feratt.engine.demo import DemoSettings, demo_datamodule
from feratt.models.stn import apply_affine

VIEWS = ("real", "synthetic", "synthetic un-warped", "clean warped", "clean un-warped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="the demo seed the model trained on")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3, help="synthetic draws per test face")
    args = parser.parse_args()
    datamodule = demo_datamodule(DemoSettings(seed=args.seed, progress_bar=False))
    datamodule.setup("fit")
    model = load_checkpoint(args.checkpoint).model
    n, cpu = len(datamodule.faces["test"]), torch.device("cpu")
    hits = dict.fromkeys(VIEWS, 0)
    with torch.no_grad():
        for repeat in range(args.repeats):
            for start in range(0, n, 64):
                index = torch.arange(start, min(n, start + 64))
                real = datamodule.eval_batch("test", index, repeat, cpu, synthetic=False)
                batch = datamodule.eval_batch("test", index, repeat, cpu, synthetic=True)
                views = dict(
                    zip(VIEWS, (real.image, batch.image, apply_affine(batch.image, batch.theta),
                                batch.clean, apply_affine(batch.clean, batch.theta)), strict=True)
                )  # fmt: skip
                if repeat == 0 and start == 0:
                    rows = torch.cat([view[:12] for view in views.values()])
                    save_image(rows, args.checkpoint.parent / "warp_oracle.png", nrow=12)
                for name, images in views.items():
                    hits[name] += (model(images).logits.argmax(1) == batch.label).sum().item()
    print("| seed | " + " | ".join(VIEWS) + " |")
    scores = [f"{100 * hits[name] / (args.repeats * n):.2f}" for name in VIEWS]
    print(f"| {args.seed} | " + " | ".join(scores) + " |")


if __name__ == "__main__":
    main()
