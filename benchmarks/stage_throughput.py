"""Training images/s of each stage of the staged recipe, side by side in one run: G_rep alone
(classifier warm-up), the whole network with G_rep's gradient stopped at I_att, and joint; each
in the default (NCHW) and the channels_last (NHWC) memory format.

    python benchmarks/stage_throughput.py --threads 2 --widths 0.25 0.375 --batch 64
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch

from feratt.losses import FERAttLoss
from feratt.models import create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--widths", type=float, nargs="+", default=[0.25, 0.375])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    formats = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}
    print("| width | format | stage | images/s |\n| ---: | --- | --- | ---: |")
    for width, (format_name, memory_format) in itertools.product(args.widths, formats.items()):
        torch.manual_seed(0)
        model = create_model("feratt_rep_cls", num_classes=7, width=width)
        model.to(memory_format=memory_format)
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        loss_fn = FERAttLoss(rep_normalize=True, rep_means="leave_one_out")
        images = torch.rand(args.batch, 3, 64, 64).contiguous(memory_format=memory_format)
        labels = torch.randint(0, 7, (args.batch,))
        stages = {
            "G_rep alone": lambda m=model, x=images: m.forward_classifier(x),
            "whole, detached at I_att": lambda m=model, x=images: m(x, detach_attention=True),
            "whole, joint": lambda m=model, x=images: m(x),
        }
        for name, forward in stages.items():
            for step in range(args.steps + 1):  # the first step is a warm-up
                if step == 1:
                    start = time.perf_counter()
                loss = loss_fn(forward(), labels, images)["loss"]
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            rate = args.steps * args.batch / (time.perf_counter() - start)
            print(f"| {width} | {format_name} | {name} | {rate:.1f} |")


if __name__ == "__main__":
    main()
