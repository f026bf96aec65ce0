"""Issue 7 in one GPU run: the paper's comparison on FER2013 and CK+48 within a time budget.

    PYTHONPATH=src PYTHONUNBUFFERED=1 python3 scripts/gpu_paper_runs.py \
        --pack build/feratt-pack.npz --out "$OUT" --budget-minutes 7.5 [key=value ...]

Trains PreActResNet18, FERAtt+Cls and FERAtt+Rep+Cls with the package's engine
(`fit_and_evaluate`) on FER2013 train (selected on real val) and evaluates val real and synthetic
(test-mode compositor, backgrounds never used in training); then runs CK+48 subject-independent
folds, as many as the budget leaves. Every run is the experiment of `--config` (default
configs/gpu/paper_runs.yaml; `--smoke`: gpu/paper_runs_smoke.yaml) with its name, model and
epochs filled in; this script only plans epochs from each model's measured training throughput
and keeps the clock. `--out` gets
summary.md, summary.json and results.tar.gz (every evaluation: JSON, Markdown, confusion
matrices, attention panels, configs); checkpoints stay in the work folder. `--smoke` runs the
whole pipeline tiny on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tarfile
import tempfile
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from feratt.config import ExperimentConfig, load_config
from feratt.data.folds import fold_split, validation_faces
from feratt.data.pack import load_pack, resize_prepared
from feratt.data.records import PreparedFaces
from feratt.devices import torch_device
from feratt.engine.datamodule import FERAttDataModule
from feratt.engine.experiment import fit_and_evaluate
from feratt.engine.module import FERAttModule
from feratt.engine.reporting import MODEL_TITLES, paper_table, paper_table_markdown
from feratt.models import list_models

MODELS = ("preactresnet18", "feratt_cls", "feratt_rep_cls")
# Share of the probe's throughput a Lightning fit reaches (validation, logging), until measured.
FIT_EFFICIENCY = 0.7
# Seconds a run costs beyond its epochs (evaluation and plots), until measured.
FIT_OVERHEAD_S = 12.0
# Seconds of a fit that are not training epochs (trainer set-up, checkpoint export).
FIT_SETUP_S = 3.0
# Bytes of evaluation files above which embeddings are left out of results.tar.gz.
ARCHIVE_LIMIT = 14 * 2**20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", type=Path, default=Path("build/feratt-pack.npz"))
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "paper-runs")))
    parser.add_argument("--work-dir", type=Path, help="runs and checkpoints (default: a temp dir)")
    parser.add_argument("--budget-minutes", type=float, default=7.5)
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["fer2013", "ckplus48"],
        choices=("fer2013", "ckplus48"),
        help="what to run",
    )
    parser.add_argument("--fer-share", type=float, default=0.6, help="FER2013's share of time")
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(MODELS),
        choices=list_models(),
        help="default: the paper's three (feratt_rep_cls_stn is the STN variant)",
    )
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--fold-list", type=int, nargs="+", help="CK+ folds to run, in order")
    parser.add_argument("--ck-epochs", type=int, default=40, help="epochs per CK+ fold")
    parser.add_argument("--max-epochs", type=int, default=200, help="cap on planned epochs")
    parser.add_argument("--probe-steps", type=int, default=20)
    parser.add_argument("--config", help="the runs' experiment (default: gpu/paper_runs)")
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run of the whole pipeline")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. model.width=0.5")
    args = parser.parse_args(argv)
    if args.smoke:
        args.max_epochs, args.ck_epochs, args.probe_steps = 1, 1, 1
        args.fold_list = args.fold_list or [0]
    args.config = args.config or ("gpu/paper_runs_smoke" if args.smoke else "gpu/paper_runs")
    return args


@dataclass
class Clock:
    """Seconds left before the budget's deadline (keeping a reserve for writing the results)."""

    budget_s: float
    reserve_s: float = 20.0
    start: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        return self.budget_s - self.reserve_s - self.elapsed()


def datamodule(
    base: ExperimentConfig,
    train: PreparedFaces,
    val: PreparedFaces,
    test: PreparedFaces,
    backgrounds: np.ndarray,
) -> FERAttDataModule:
    # The pack's backgrounds replace data.backgrounds; from_prepared takes the training seed
    # under the name of DataConfig.seed (the background split), which stays at its default.
    options = {k: v for k, v in asdict(base.data).items() if k not in ("seed", "backgrounds")}
    return FERAttDataModule.from_prepared(
        train, val, test, backgrounds, seed=base.train.seed, **options
    )


def experiment(
    base: ExperimentConfig, name: str, model: str, classes: int, epochs: int, work: Path
) -> ExperimentConfig:
    """`base` as one training run: its name, model, classes and epochs, checkpoints in `work`."""
    return base.replace(
        f"name={name}",
        f"output_dir={work / 'runs'}",
        f"model.name={model}",
        f"model.num_classes={classes}",
        f"train.max_epochs={epochs}",
        f"train.checkpoint_every_n_epochs={epochs}",
    )


def probe_throughput(
    config: ExperimentConfig, data: FERAttDataModule, steps: int, device: torch.device
) -> float:
    """Training images per second of one model: the engine's module, loss, optimiser and
    on-device batches, bf16 autocast on a GPU, without Lightning (a few warm-up steps first)."""
    module = FERAttModule(config.model.to_dict(), data.classes, asdict(config.train))
    model, loss_fn = module.model.to(device), module.loss_fn
    cuda = device.type == "cuda"
    if cuda:
        model.to(memory_format=torch.channels_last)
    optimizer = module.build_optimizer()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()

    def step(index: int) -> None:
        batch = data.train_batch(index, device)
        image = batch.image
        if cuda:
            image = image.contiguous(memory_format=torch.channels_last)
        with autocast:
            losses = loss_fn(model(image), batch.label, batch.clean)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimizer.step()

    warmup = min(3, steps)
    for index in range(warmup):
        step(index)
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for index in range(steps):
        step(warmup + index)
    if cuda:
        torch.cuda.synchronize()
    return steps * config.data.batch_size / (time.perf_counter() - start)


@dataclass
class Planner:
    """Epoch plans from measured throughput; `efficiency` is corrected after every fit."""

    throughput: dict[str, float]
    efficiency: float = FIT_EFFICIENCY
    overhead_s: float = FIT_OVERHEAD_S

    def seconds(self, model: str, images_per_epoch: int, epochs: int) -> float:
        rate = self.throughput[model] * self.efficiency
        return epochs * images_per_epoch / rate + self.overhead_s

    def epochs(self, models: list[str], images_per_epoch: int, seconds: float) -> int:
        """Most epochs (the same for every model) that train `models` within `seconds`."""
        per_epoch = sum(self.seconds(m, images_per_epoch, 1) - self.overhead_s for m in models)
        return int((seconds - self.overhead_s * len(models)) // per_epoch)

    def observe(self, model: str, images: int, fit_s: float, eval_s: float) -> None:
        """Correct the plan from a finished run: `images` trained in a `fit_s` s fit, then
        evaluated in `eval_s` s."""
        train_s = max(fit_s - FIT_SETUP_S, 1e-3)
        self.efficiency = min(1.0, images / train_s / self.throughput[model])
        self.overhead_s = FIT_SETUP_S + eval_s


def images_per_epoch(config: ExperimentConfig, n_train: int) -> int:
    batch = config.data.batch_size
    return (config.data.steps_per_epoch or max(1, n_train // batch)) * batch


def train_and_evaluate(
    config: ExperimentConfig,
    data: FERAttDataModule,
    eval_dir: Path,
    fold: int | None = None,
    attention: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`fit_and_evaluate` one model (with attention panels if `attention`), then drop its
    checkpoints; returns the evaluation records and the run's timing."""
    run = fit_and_evaluate(
        config,
        data,
        eval_dir,
        fold=fold,
        batch_size=256,
        device="cpu" if config.train.accelerator == "cpu" else "auto",
        attention_samples=8 if attention else 0,
        provenance={"epochs": config.train.max_epochs},
    )
    (eval_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    shutil.rmtree(config.run_dir, ignore_errors=True)
    timing = {
        "model": config.model.name,
        "fold": fold,
        "epochs": config.train.max_epochs,
        "steps": run.global_step,
        "fit_s": round(run.fit_s, 2),
        "eval_s": round(run.eval_s, 2),
        "fit_images_per_s": round(run.global_step * config.data.batch_size / run.fit_s, 1),
        "selected_val_acc": run.checkpoint.metadata.get("val/acc"),
    }
    return run.records, timing


def device_info() -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    return {
        "card": torch.cuda.get_device_name() if cuda else f"CPU ({platform.processor() or '?'})",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }


def summary_markdown(summary: dict[str, Any]) -> str:
    info, settings = summary["device"], summary["settings"]
    model, data, train = (summary["experiment"][k] for k in ("model", "data", "train"))
    lines = [
        "# Issue 7: the paper's comparison on real faces",
        "",
        f"{info['card']}, torch {info['torch']}, {info['date']}; `{info['command']}`; "
        f"{summary['elapsed_s']:.0f} s of {60 * settings['budget_minutes']:.0f} s budget.",
        "",
        f"Width {model['width']}, batch {data['batch_size']}, Adam lr {train['lr']} "
        f"({train['lr_schedule']} after a {train['lr_warmup_steps']}-step warm-up), "
        f"{data['mode']} training data "
        f"(synthetic fraction {data['synthetic_fraction']}), selection on real val accuracy.",
        "",
        "## Training throughput (images/s)",
        "",
        "| model | probe (model + device batches) | FER2013 fit (incl. validation) |",
        "| --- | --- | --- |",
    ]
    fer_runs = {run["model"]: run for run in summary["fer2013"]["runs"]}
    for model, rate in summary["throughput"].items():
        fit_rate = fer_runs.get(model, {}).get("fit_images_per_s", "–")
        lines.append(f"| {MODEL_TITLES.get(model, model)} | {rate:.0f} | {fit_rate} |")
    for name, title in (("fer2013", "FER2013 val (real / synthetic)"), ("ckplus48", "CK+48")):
        part = summary[name]
        lines += ["", f"## {title}", ""]
        if name == "ckplus48":
            lines += [f"Folds done: {part['folds_done']} of {summary['settings']['folds']}.", ""]
        if part["records"]:
            lines.append(paper_table_markdown(paper_table(part["records"])))
        lines += ["| model | fold | epochs | steps | fit s | eval s | images/s |"]
        lines += ["| --- | --- | --- | --- | --- | --- | --- |"]
        lines += [
            f"| {r['model']} | {r['fold']} | {r['epochs']} | {r['steps']} | {r['fit_s']} | "
            f"{r['eval_s']} | {r['fit_images_per_s']} |"
            for r in part["runs"]
        ]
    lines += ["", "Per-run evaluations, confusion matrices, attention panels: results.tar.gz.", ""]
    return "\n".join(lines)


def publish(summary: dict[str, Any], clock: Clock, work: Path, out: Path) -> None:
    """Write summary.json, summary.md and results.tar.gz of the evaluations into `out`."""
    summary["elapsed_s"] = round(clock.elapsed(), 1)
    out.mkdir(parents=True, exist_ok=True)
    (work / "eval" / "summary.md").write_text(summary_markdown(summary))
    (work / "eval" / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    archive = work / "results.tar.gz"
    eval_bytes = sum(f.stat().st_size for f in (work / "eval").rglob("*") if f.is_file())
    # Files come back from the GPU machine up to 16 MiB each: drop embeddings if needed.
    drop_embeddings = eval_bytes > ARCHIVE_LIMIT

    def keep(item: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if drop_embeddings and item.name.endswith("_embeddings.npz") else item

    with tarfile.open(archive, "w:gz") as tar:
        tar.add(work / "eval", arcname="results", filter=keep)
    for name in ("summary.md", "summary.json"):
        shutil.copyfile(work / "eval" / name, out / name)
    shutil.copyfile(archive, out / archive.name)


def load_sets(args: argparse.Namespace, seed: int) -> tuple[dict[str, PreparedFaces], np.ndarray]:
    """The pack's face sets at the models' 64 px (smoke: small subsets) and its backgrounds."""
    pack = load_pack(args.pack)
    missing = {"fer2013_train", "fer2013_val", "ckplus48"} - set(pack.faces)
    if missing or pack.backgrounds is None:
        raise ValueError(f"{args.pack} lacks {sorted(missing) or 'backgrounds'}")
    sets = {name: resize_prepared(faces, 64) for name, faces in pack.faces.items()}
    if args.smoke:
        rng = np.random.default_rng(seed)
        for name, count in (("fer2013_train", 64), ("fer2013_val", 32), ("ckplus48", 160)):
            keep = np.sort(rng.choice(len(sets[name]), min(count, len(sets[name])), False))
            sets[name] = sets[name].subset(keep)
    return sets, pack.backgrounds


@dataclass
class Session:
    """One budgeted run: settings, clock, data, the epoch planner and the growing summary."""

    args: argparse.Namespace
    base: ExperimentConfig
    clock: Clock
    work: Path
    device: torch.device
    sets: dict[str, PreparedFaces]
    backgrounds: np.ndarray
    summary: dict[str, Any]
    planner: Planner | None = None

    def log(self, message: str) -> None:
        print(f"[{self.clock.elapsed():.0f}s] {message}", flush=True)

    def publish(self) -> None:
        publish(self.summary, self.clock, self.work, self.args.out)

    def probe(self, data: FERAttDataModule) -> None:
        """Measure every model's training throughput on `data` and plan from it."""
        for model in self.args.models:
            config = experiment(self.base, f"probe-{model}", model, len(data.classes), 1, self.work)
            rate = probe_throughput(config, data, self.args.probe_steps, self.device)
            self.summary["throughput"][model] = round(rate, 1)
            self.log(f"{model}: {rate:.0f} training images/s")
        self.planner = Planner(self.summary["throughput"])

    def run_fer(self, data: FERAttDataModule, seconds: float) -> None:
        """FER2013: the same epochs for every model, planned to take about `seconds`."""
        args, part = self.args, self.summary["fer2013"]
        per_epoch = images_per_epoch(self.base, len(data.faces["train"]))
        end = self.clock.elapsed() + seconds
        for index, model in enumerate(args.models):
            affordable = self.planner.epochs(
                args.models[index:], per_epoch, end - self.clock.elapsed()
            )
            epochs = min(args.max_epochs, max(1, affordable))
            if part["runs"]:  # never more epochs than the first model, fewer only when late
                epochs = min(epochs, part["runs"][0]["epochs"])
            config = experiment(
                self.base, f"fer2013-{model}", model, len(data.classes), epochs, self.work
            )
            self.log(f"FER2013 {model}: {epochs} epochs")
            records, run = train_and_evaluate(config, data, self.work / "eval/fer2013" / model)
            images = run["steps"] * config.data.batch_size
            self.planner.observe(model, images, run["fit_s"], run["eval_s"])
            part["runs"].append(run)
            part["records"] += records
            self.publish()
            self.log(f"{model}: {_accuracies(records)}")

    def run_ck(self) -> None:
        """CK+48: whole subject-independent folds (every model) while the next one fits."""
        args, part, ck = self.args, self.summary["ckplus48"], self.sets["ckplus48"]
        seed, val_fraction = self.base.data.seed, self.base.data.val_fraction
        fold_s = None
        for fold in args.fold_list or range(args.folds):
            # The same folds and validation subjects as `feratt cv` with this config.
            train, test = fold_split(ck, args.folds, fold, seed)
            inner, val = validation_faces(train, val_fraction, seed)
            per_epoch = images_per_epoch(self.base, len(inner))
            estimate = fold_s or sum(
                self.planner.seconds(m, per_epoch, args.ck_epochs) for m in args.models
            )
            if estimate > self.clock.left():
                self.log(
                    f"fold {fold} needs ~{estimate:.0f} s, {self.clock.left():.0f} s left: stop"
                )
                break
            start = self.clock.elapsed()
            data = datamodule(self.base, inner, val, test, self.backgrounds)
            for model in args.models:
                config = experiment(
                    self.base,
                    f"ck-fold{fold}-{model}",
                    model,
                    len(ck.classes),
                    args.ck_epochs,
                    self.work,
                )
                eval_dir = self.work / "eval/ckplus48" / f"fold{fold}" / model
                # Attention panels (0.6 MB each) for the first fold only: results stay small.
                first = not part["folds_done"]
                records, run = train_and_evaluate(config, data, eval_dir, fold, first)
                part["runs"].append(run)
                part["records"] += records
                self.log(f"fold {fold} {model}: {_accuracies(records)}")
            fold_s = 1.1 * (self.clock.elapsed() - start)
            part["folds_done"].append(fold)
            self.publish()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = torch.get_num_threads()
    if args.smoke:
        torch.set_num_threads(1)  # tiny models on a shared CPU: extra threads only wait
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)


def run(args: argparse.Namespace) -> int:
    """Probe, then FER2013 and CK+48 as `args` ask, publishing results after every run."""
    clock = Clock(60 * args.budget_minutes)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="feratt-paper-"))
    shutil.rmtree(work / "eval", ignore_errors=True)
    (work / "eval").mkdir(parents=True)
    base = load_config(args.config, args.overrides)
    cpu = base.train.accelerator == "cpu"
    device = torch.device("cpu") if cpu else torch_device("auto")
    sets, backgrounds = load_sets(args, base.train.seed)
    summary: dict[str, Any] = {
        "device": device_info(),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "experiment": base.to_dict(),
        "throughput": {},
        "fer2013": {"runs": [], "records": []},
        "ckplus48": {"runs": [], "records": [], "folds_done": []},
    }
    session = Session(args, base, clock, work, device, sets, backgrounds, summary)
    session.log(f"loaded {args.pack}; running on {device}")
    fer_train, fer_val = sets["fer2013_train"], sets["fer2013_val"]
    fer_data = datamodule(base, fer_train, fer_val, fer_val, backgrounds)
    session.probe(fer_data)
    if "fer2013" in args.parts:
        share = args.fer_share if "ckplus48" in args.parts else 1.0
        session.run_fer(fer_data, share * clock.left())
    if "ckplus48" in args.parts:
        session.run_ck()
    session.publish()
    session.log(f"done: {args.out}")
    return 0


def _accuracies(records: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['test']} {100 * r['cls']['accuracy']:.2f}%" for r in records)


if __name__ == "__main__":
    raise SystemExit(main())
