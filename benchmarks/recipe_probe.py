"""Recipe ablations of issue 11: a plain training loop over the data module's device batches
(no Lightning), then test accuracy on real and synthetic faces after precise BatchNorm.

    python benchmarks/recipe_probe.py --steps 400 --detach 400 --tag detach_all
    python benchmarks/recipe_probe.py --model preactresnet18 --steps 240
    python benchmarks/recipe_probe.py --data ckplus48 --model-opt reconstruction=paper \\
        --train-opt rep_normalize=false rep_means=batch attention_detach_steps=0

--model-opt / --train-opt take ModelConfig / TrainConfig keys (the training loop reads the loss
keys); --detach N stops G_rep's gradient at I_att for the first N steps, --warmup N trains G_rep
alone on the input (--warm-input clean: on I_org) first, with the schedule restarting there.
One JSON line per run goes to stdout and to --results.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from feratt.config import DataConfig, TrainConfig
from feratt.data.procedural import render_backgrounds, render_faces
from feratt.engine.datamodule import FERAttDataModule
from feratt.engine.demo import DemoSettings, split_by_identity
from feratt.engine.precise_bn import recompute_batchnorm_statistics
from feratt.engine.schedules import LRSchedule
from feratt.losses import attention_loss, loss_from_config
from feratt.models import create_model

CPU = torch.device("cpu")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="demo", choices=("demo", "ckplus48"))
    p.add_argument("--shared", default="../shared/data", help="folder of ckplus48/, backgrounds/")
    p.add_argument("--model", default="feratt_rep_cls")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--amsgrad", type=int, default=1)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--mode", default="mixed")
    p.add_argument("--model-opt", nargs="*", default=[])
    p.add_argument("--train-opt", nargs="*", default=[])
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--warm-input", default="image", choices=("image", "clean"))
    p.add_argument("--detach", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tag", default="")
    p.add_argument("--results", default="benchmarks/results/recipe_probe.jsonl")
    return p.parse_args()


def _options(items: list[str]) -> dict:
    return {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in items)}


def _data(args: argparse.Namespace) -> FERAttDataModule:
    if args.data == "demo":
        s = DemoSettings(seed=args.seed)
        faces = render_faces(s.n_per_class, s.classes, 64, s.seed, s.n_identities)
        backgrounds = render_backgrounds(s.n_backgrounds, s.background_size, s.seed)
        train, val, test = split_by_identity(faces, s.test_fraction, s.val_fraction, s.seed)
        return FERAttDataModule.from_prepared(
            train, val, test, backgrounds, seed=args.seed, mode=args.mode, batch_size=32
        )
    config = DataConfig(
        path=f"{args.shared}/ckplus48",
        backgrounds=f"{args.shared}/backgrounds",
        folds=10,
        fold=0,
        mode=args.mode,
        batch_size=32,
    )
    data = FERAttDataModule(config, size=64, channels=3, seed=args.seed)
    data.setup()
    return data


def _test_scores(model: torch.nn.Module, data: FERAttDataModule) -> dict[str, float]:
    """Accuracy (%) and mean L_att of the test faces, real and composited."""
    scores = {}
    with torch.no_grad():
        for kind in ("real", "synthetic"):
            correct = count = 0
            att = 0.0
            for chunk in data.eval_chunks("test"):
                batch = data.eval_batch(
                    "test", chunk.index, chunk.batch, CPU, synthetic=kind == "synthetic"
                )
                output = model(batch.image)
                correct += int((output.logits.argmax(1) == batch.label).sum())
                count += len(batch.label)
                if output.attention_image is not None:
                    loss = attention_loss(output.attention_image, batch.clean)
                    att += loss.item() * len(batch.label)
            scores[kind] = round(100 * correct / count, 1)
            scores[f"{kind}_att"] = round(att / count, 3)
    return scores


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    model_options, train_options = _options(args.model_opt), _options(args.train_opt)
    data = _data(args)
    torch.manual_seed(args.seed)
    model = create_model(
        args.model, num_classes=len(data.classes), width=args.width, **model_options
    )
    loss_fn = loss_from_config(TrainConfig(**train_options))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, amsgrad=bool(args.amsgrad))
    schedule = LRSchedule(
        kind="cosine", total_steps=args.steps, warmup_steps=40, restart_step=args.warmup
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    start, curve, first_below, ema = time.time(), [], None, None
    for step in range(args.steps):
        batch = data.train_batch(step, CPU)
        if step < args.warmup:
            output = model.forward_classifier(
                batch["clean" if args.warm_input == "clean" else "image"]
            )
        else:
            output = model(batch.image, detach_attention=step < args.detach)
        losses = loss_fn(output, batch.label, batch.clean)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        scheduler.step()
        cls = losses["cls"].item()
        ema = cls if ema is None else 0.9 * ema + 0.1 * cls
        if first_below is None and ema < 1.0:
            first_below = step
        if step % 20 == 19:
            curve.append(round(cls, 3))
            print({k: round(v.item(), 3) for k, v in losses.items()} | {"step": step + 1})
    recompute_batchnorm_statistics(model, (data.statistics_batch(i, CPU).image for i in range(8)))
    model.eval()
    record = {
        "tag": args.tag,
        "data": args.data,
        "model": args.model,
        "seed": args.seed,
        "lr": args.lr,
        "amsgrad": args.amsgrad,
        "mopt": model_options,
        "topt": train_options,
        "warmup": args.warmup,
        "detach": args.detach,
        "steps": args.steps,
        "first_cls_below_1": first_below,
        "secs": round(time.time() - start),
        **_test_scores(model, data),
        "cls_curve": curve,
    }
    print(json.dumps(record))
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    with open(args.results, "a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
