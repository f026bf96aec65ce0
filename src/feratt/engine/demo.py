"""`feratt demo`: the whole paper protocol on procedural faces, on the CPU, in a few minutes.

Renders a labelled expression set (`feratt.data.procedural`), splits it by identity into train,
validation and test people, trains the PreActResNet18 baseline and a reduced-width FERAtt+Rep+Cls
on real and composited faces (procedural clutter backgrounds; test backgrounds never seen in
training), evaluates both on the real and the synthetic test set and writes the paper-style
report: results table, loss curves, attention grids, confusion matrices and t-SNE plots.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torchvision.utils import make_grid, save_image

from feratt.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from feratt.data.folds import validation_split
from feratt.data.procedural import render_backgrounds, render_faces
from feratt.data.records import PreparedFaces
from feratt.engine.datamodule import FERAttDataModule
from feratt.engine.experiment import fit_and_evaluate
from feratt.engine.plots import plot_curves
from feratt.engine.reporting import (
    MODEL_TITLES,
    load_evaluations,
    paper_table,
    paper_table_markdown,
    write_paper_table,
    write_tsne_plots,
)
from feratt.fileio import write_text

# BU-3DFE's seven classes (the basic expressions without contempt).
DEMO_CLASSES = ("neutral", "happy", "surprise", "sad", "anger", "disgust", "fear")


@dataclass(frozen=True)
class DemoSettings:
    """What the demo renders and trains; the defaults take 4-5 minutes on 2 idle CPU cores.

    Args:
        out_dir: where the report goes (its ``runs/`` and ``eval/`` are replaced on a rerun).
        classes: expressions to render.
        n_per_class, n_identities: faces per class and the people showing them.
        test_fraction, val_fraction: shares of the people held out for test and validation.
        n_backgrounds, background_size: procedural clutter images (H, W) for the compositor.
        models: registry names to train and compare.
        width: channel multiplier of the models (reduced for the CPU).
        epochs, steps_per_epoch, batch_size: training length.
        lr, lr_schedule, lr_warmup_steps: Adam's step size, its decay and its linear warm-up.
        precise_bn_batches: batches that refresh the BatchNorm statistics before validation.
        mask_weight: weight of L_mask (``train.mask_weight``): at 400 steps, L_att alone teaches
            the attention an oval template and FERAtt+Rep+Cls collapsed on one of three seeds;
            with L_mask it learnt on all three, and at weight 5 rather than 1 G_att's mask of
            unseen composites is good enough for the alignment to pay (benchmarks/RESULTS.md:
            mask IoU 0.41-0.63 -> 0.63-0.66). 0: the paper's losses.
        alignment, alignment_teacher_steps: ``model.alignment`` and
            ``train.alignment_teacher_steps`` of the attention models: G_rep classifies I_att
            brought upright by the moments of G_att's mask, by the true mask for the first 200
            steps (benchmarks/RESULTS.md: the three seeds). ``none`` and 0: the paper's network.
        mode: training data mode (``mixed``: half of every batch composited).
        seed: seed of rendering, splits and training.
        progress_bar: show Lightning's progress bar.
    """

    out_dir: Path = Path("feratt-demo")
    classes: tuple[str, ...] = DEMO_CLASSES
    n_per_class: int = 120
    n_identities: int = 60
    test_fraction: float = 0.25
    val_fraction: float = 0.1
    n_backgrounds: int = 160
    background_size: tuple[int, int] = (128, 128)
    models: tuple[str, ...] = ("preactresnet18", "feratt_rep_cls")
    width: float = 0.25
    epochs: int = 10
    steps_per_epoch: int = 40
    batch_size: int = 32
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    lr_warmup_steps: int = 40
    precise_bn_batches: int = 4
    mask_weight: float = 5.0
    alignment: str = "moments"
    alignment_teacher_steps: int = 200
    mode: str = "mixed"
    seed: int = 0
    progress_bar: bool = True

    def quick(self) -> DemoSettings:
        """A seconds-long version of these settings, for tests and a first look."""
        return replace(
            self,
            n_per_class=6,
            n_identities=8,
            n_backgrounds=16,
            epochs=1,
            steps_per_epoch=2,
            batch_size=4,
            lr_warmup_steps=1,
            precise_bn_batches=2,
        )


@dataclass(frozen=True)
class DemoReport:
    """What the demo wrote and how long it took."""

    out_dir: Path
    table: str
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def split_by_identity(
    faces: PreparedFaces, test_fraction: float, val_fraction: float, seed: int
) -> tuple[PreparedFaces, PreparedFaces, PreparedFaces]:
    """(train, val, test) faces with disjoint people, as the subject-independent protocol wants."""
    rest, test = validation_split(faces.subjects, test_fraction, seed)
    rest_faces = faces.subset(rest)
    train, val = validation_split(rest_faces.subjects, val_fraction / (1 - test_fraction), seed)
    return rest_faces.subset(train), rest_faces.subset(val), faces.subset(test)


def _data_options(settings: DemoSettings) -> dict[str, Any]:
    # DataConfig.seed (the background split) stays at its default: `from_prepared` takes the
    # training seed under the same name.
    return {
        "mode": settings.mode,
        "batch_size": settings.batch_size,
        "steps_per_epoch": settings.steps_per_epoch,
    }


def experiment(settings: DemoSettings, model: str, num_classes: int) -> ExperimentConfig:
    """The ExperimentConfig of one demo run (CPU-sized model, no live logger)."""
    return ExperimentConfig(
        name=model,
        output_dir=str(Path(settings.out_dir) / "runs"),
        model=ModelConfig(
            model, num_classes=num_classes, width=settings.width, alignment=settings.alignment
        ),
        data=DataConfig(**_data_options(settings)),
        train=TrainConfig(
            max_epochs=settings.epochs,
            lr=settings.lr,
            lr_schedule=settings.lr_schedule,
            lr_warmup_steps=settings.lr_warmup_steps,
            precise_bn_batches=settings.precise_bn_batches,
            mask_weight=settings.mask_weight,
            alignment_teacher_steps=settings.alignment_teacher_steps,
            seed=settings.seed,
            logger="none",
            resume=False,
            checkpoint_every_n_epochs=settings.epochs,
            grid_every_n_epochs=settings.epochs,
            log_every_n_steps=max(1, settings.steps_per_epoch // 5),
            progress_bar=settings.progress_bar,
        ),
    )


def _save_samples(datamodule: FERAttDataModule, path: Path, count: int = 16) -> Path:
    """Rows of rendered test crops, their dark faces and their synthetic composites."""
    index = torch.arange(min(count, len(datamodule.faces["test"])))
    cpu = torch.device("cpu")
    real = datamodule.eval_batch("test", index, 0, cpu, synthetic=False)
    synthetic = datamodule.eval_batch("test", index, 0, cpu, synthetic=True)
    rows = torch.cat([real.image, real.clean, synthetic.image])
    save_image(make_grid(rows, nrow=len(index), padding=2, pad_value=1.0), path)
    return path


def _write_markdown(report: DemoReport, settings: DemoSettings, counts: dict[str, int]) -> Path:
    out = report.out_dir
    link = {name: path.relative_to(out).as_posix() for name, path in report.files.items()}
    lines = [
        "# feratt demo: FER with attention on procedural faces",
        "",
        f"{counts['train']} training, {counts['val']} validation and {counts['test']} test "
        f"faces of {settings.n_identities} procedural people (test people never seen in "
        f"training), {len(settings.classes)} classes; {settings.epochs} epochs x "
        f"{settings.steps_per_epoch} steps of {settings.batch_size} ({settings.mode} data), "
        f"width {settings.width}; {report.seconds:.0f} s.",
        "",
        "Real = the rendered crops; Synthetic = the same faces composited on clutter "
        "backgrounds never used in training (the paper's protocol).",
        "",
        report.table,
        f"![samples]({link['samples']})",
        "",
        "Test faces: crops, dark faces (I_org) and synthetic composites.",
        "",
        f"![curves]({link['curves']})",
        "",
    ]
    lines += [
        f"![{name}]({target})"
        for name, target in link.items()
        if name.startswith(("attention", "tsne"))
    ]
    lines += ["", "Per-model evaluations (JSON, Markdown, confusion matrices): `eval/`.", ""]
    path = out / "report.md"
    return write_text(path, "\n".join(lines))


def demo_datamodule(settings: DemoSettings) -> FERAttDataModule:
    """The demo's rendered faces, split by person, and clutter backgrounds, ready to train on."""
    faces = render_faces(
        settings.n_per_class, settings.classes, 64, settings.seed, settings.n_identities
    )
    backgrounds = render_backgrounds(
        settings.n_backgrounds, settings.background_size, settings.seed
    )
    train, val, test = split_by_identity(
        faces, settings.test_fraction, settings.val_fraction, settings.seed
    )
    return FERAttDataModule.from_prepared(
        train, val, test, backgrounds, seed=settings.seed, **_data_options(settings)
    )


def run_demo(
    settings: DemoSettings | None = None, echo: Callable[[str], None] = print
) -> DemoReport:
    """Render, split, train every model of `settings`, evaluate and write the report."""
    settings = settings or DemoSettings()
    start = time.perf_counter()
    out = Path(settings.out_dir)
    for stale in ("runs", "eval"):
        shutil.rmtree(out / stale, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)

    datamodule = demo_datamodule(settings)
    counts = {split: len(faces) for split, faces in datamodule.faces.items()}
    echo(
        f"rendered {sum(counts.values())} faces and {settings.n_backgrounds} backgrounds "
        f"({time.perf_counter() - start:.1f} s); people split into {counts}"
    )
    files = {"samples": _save_samples(datamodule, out / "samples.png")}
    runs = {}
    for model in settings.models:
        echo(f"training {MODEL_TITLES.get(model, model)} ...")
        config = experiment(settings, model, len(datamodule.classes))
        runs[model] = fit_and_evaluate(config, datamodule, out / "eval" / model).fit.run_dir
        for kind in ("real", "synthetic"):
            grid = out / "eval" / model / f"{kind}_attention.png"
            if grid.is_file():
                files[f"attention_{model}_{kind}"] = grid

    records = load_evaluations([out / "eval"])
    rows = paper_table(records)
    files.update({f"results_{k}": v for k, v in write_paper_table(rows, out).items()})
    for path in write_tsne_plots(records, out / "eval"):
        files[path.stem] = path
    titled = {MODEL_TITLES.get(model, model): run_dir for model, run_dir in runs.items()}
    files["curves"] = plot_curves(titled, out / "loss_curves.png")
    report = DemoReport(out, paper_table_markdown(rows), files, time.perf_counter() - start)
    files["report"] = _write_markdown(report, settings, counts)
    return report
