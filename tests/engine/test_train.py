"""Training engine: data modes on real CK+48 faces, device-side batches, folds, checkpoints."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from training_replay import StepRecorder, replayed_cls, weights_changed

from feratt.checkpoint import load_checkpoint
from feratt.config import ExperimentConfig, ModelConfig
from feratt.data.records import PreparedFaces
from feratt.engine.datamodule import FERAttDataModule
from feratt.engine.module import FERAttModule
from feratt.engine.schedules import LRSchedule
from feratt.engine.train import fit
from feratt.models import FERAtt

CPU = torch.device("cpu")
CLASSES = ("happy", "surprise", "sad")


def _faces(labels: list[int], subjects: list[str], size: int = 32, seed: int = 0) -> PreparedFaces:
    rng = np.random.default_rng(seed)
    n = len(labels)
    masks = np.zeros((n, size, size), bool)
    masks[:, 4:-4, 6:-6] = True
    return PreparedFaces(
        faces=rng.integers(1, 256, (n, 1, size, size), dtype=np.uint8),
        masks=masks,
        labels=np.asarray(labels, np.int64),
        subjects=np.asarray(subjects),
        paths=np.asarray([f"face{i}.png" for i in range(n)]),
        classes=CLASSES,
    )


def _module(mode: str, **options: object) -> FERAttDataModule:
    """In-memory data: class 0 nine times as frequent as classes 1 and 2."""
    labels = [0] * 18 + [1] * 2 + [2] * 2
    train = _faces(labels, [f"s{i % 5}" for i in range(len(labels))])
    val = _faces([0, 1, 2], ["v", "v", "v"], seed=1)
    backgrounds = np.stack([np.full((40, 40), i, np.uint8) for i in range(50)])
    return FERAttDataModule.from_prepared(
        train, val, None, backgrounds, mode=mode, batch_size=16, **options
    )


def test_class_balanced_sampling_evens_out_a_skewed_set() -> None:
    data = _module("real")
    labels = torch.cat([data.train_batch(step, CPU).label for step in range(100)])
    shares = torch.bincount(labels, minlength=3).float() / len(labels)
    # Uniform sampling would give class 0 about 82 %.
    assert torch.allclose(shares, torch.full((3,), 1 / 3), atol=0.05)


def test_train_batches_are_a_function_of_seed_and_step() -> None:
    data, again = _module("synthetic"), _module("synthetic")
    first = data.train_batch(7, CPU)
    for key, value in vars(again.train_batch(7, CPU)).items():
        expected = getattr(first, key)
        assert value is expected is None or torch.equal(value, expected)
    assert not torch.equal(data.train_batch(8, CPU).image, first.image)
    assert not torch.equal(data.train_batch(7, CPU, rank=1).image, first.image)


@pytest.mark.parametrize("mode", ["real", "synthetic", "mixed"])
def test_batches_of_each_mode(mode: str) -> None:
    data = _module(mode, augment=False, synthetic_fraction=0.25)
    batch = data.train_batch(0, CPU)
    image, clean = batch.image, batch.clean
    assert image.shape == clean.shape == (16, 3, 32, 32) and image.dtype == torch.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    real = image[{"real": 0, "synthetic": 16, "mixed": 4}[mode] :]
    real_clean = clean[len(image) - len(real) :]
    # Real crops: the target I_org is the crop on black outside the face mask.
    mask = data.faces["train"].masks[0]
    assert torch.equal(real_clean[:, :, ~mask], torch.zeros_like(real_clean[:, :, ~mask]))
    assert torch.equal(real_clean[:, :, mask], real[:, :, mask])
    if mode != "real":
        # Composites put a background (constant grey levels here) around the face.
        assert (image[0][:, ~mask] > 0).any()


def test_backgrounds_of_validation_and_test_are_never_trained_on() -> None:
    data = _module("synthetic")
    levels = {split: set(bg[:, 0, 0, 0].tolist()) for split, bg in data.backgrounds.items()}
    assert levels["train"] and levels["val"] and levels["test"]
    assert not levels["train"] & levels["val"] and not levels["train"] & levels["test"]
    assert not levels["val"] & levels["test"]
    assert len(levels["train"] | levels["val"] | levels["test"]) == 50


def test_validation_batches_are_fixed() -> None:
    data = _module("synthetic")
    chunk = data.eval_chunks("val")[0]
    first = data.eval_batch("val", chunk.index, chunk.batch, CPU)
    second = data.eval_batch("val", chunk.index, chunk.batch, CPU)
    assert torch.equal(first.image, second.image)
    assert torch.equal(first.label, torch.tensor([0, 1, 2]))


@pytest.mark.parametrize(
    ("mode", "val_mode", "composited"),
    [
        ("mixed", None, [True, False, False]),
        ("mixed", "real", [False] * 3),
        ("real", "synthetic", [True] * 3),
        ("synthetic", None, [True] * 3),
    ],
)
def test_validation_mode_decides_which_faces_are_composited(
    mode: str, val_mode: str | None, composited: list[bool]
) -> None:
    """Faces are 1..255 inside a fixed box; backgrounds are flat grey levels below 50. A real
    validation image is its face crop; a composited one shows its background somewhere."""
    data = _module(mode, synthetic_fraction=0.34, val_mode=val_mode)
    chunk = data.eval_chunks("val")[0]
    batch = data.eval_batch("val", chunk.index, chunk.batch, CPU)
    crops = torch.as_tensor(data.faces["val"].faces).float() / 255
    is_real = [torch.equal(batch.image[i, :1], crops[i]) for i in range(3)]
    assert [not r for r in is_real] == composited


def test_fold_and_validation_subjects_are_disjoint(
    tiny_config: Callable[..., ExperimentConfig],
) -> None:
    config = tiny_config("data.folds=3", "data.fold=1")
    data = FERAttDataModule(config.data, size=64)
    data.setup("fit")
    subjects = {split: set(faces.subjects) for split, faces in data.faces.items()}
    assert subjects["train"] and subjects["val"] and subjects["test"]
    assert not subjects["train"] & subjects["test"] and not subjects["val"] & subjects["test"]
    assert not subjects["train"] & subjects["val"]
    other = FERAttDataModule(config.replace("data.fold=2").data, size=64)
    other.setup("fit")
    assert not set(other.faces["test"].subjects) & subjects["test"]


def test_optimiser_is_the_papers_adam() -> None:
    config = ExperimentConfig().replace("model.name=preactresnet18", "model.num_classes=3")
    module = FERAttModule(config.model.to_dict(), CLASSES, train=config.train.__dict__)
    optimisers = module.configure_optimizers()
    adam = optimisers["optimizer"]
    assert isinstance(adam, torch.optim.Adam)
    group = adam.param_groups[0]
    assert (group["lr"], group["weight_decay"], group["amsgrad"]) == (1e-4, 0.0, True)
    assert "lr_scheduler" not in optimisers


def test_attention_side_can_learn_slower_than_g_rep() -> None:
    config = ExperimentConfig().replace(
        "model.width=0.125", "model.num_classes=3", "train.lr=1e-3", "train.attention_lr_scale=0.1"
    )
    module = FERAttModule(config.model.to_dict(), CLASSES, train=config.train.__dict__)
    classifier, attention = module.build_optimizer().param_groups
    assert (classifier["name"], classifier["lr"]) == ("G_rep", 1e-3)
    assert (attention["name"], attention["lr"]) == ("attention", pytest.approx(1e-4))
    ids = {id(p) for p in classifier["params"]}
    assert ids == {id(p) for p in module.model.classifier.parameters()}
    assert len(ids) + len(attention["params"]) == len(list(module.model.parameters()))
    assert ids.isdisjoint(id(p) for p in attention["params"])
    with pytest.raises(ValueError, match="train.attention_lr_scale must be positive; got 0"):
        config.replace("train.attention_lr_scale=0")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("fixed", [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
        ("step", [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.1]),
        (
            "cosine",
            [
                0.25 * 1.0,
                0.5 * 0.97553,
                0.75 * 0.90451,
                0.79389,
                0.65451,
                0.5,
                0.34549,
                0.20611,
                0.09549,
                0.02447,
            ],
        ),
    ],
)
def test_schedules_warm_up_then_decay_per_step(kind: str, expected: list[float]) -> None:
    schedule = LRSchedule(
        kind, total_steps=10, steps_per_epoch=3, warmup_steps=4, step_epochs=2, gamma=0.1
    )
    assert [schedule(t) for t in range(10)] == pytest.approx(expected, abs=1e-5)


@pytest.mark.slow
def test_fit_follows_the_schedule_step_by_step(
    tiny_config: Callable[..., ExperimentConfig],
) -> None:
    """The logged learning rate of a real run is the schedule's, one value per optimiser step."""
    config = tiny_config(
        "model.name=preactresnet18",
        "data.mode=real",
        "train.max_epochs=2",
        "train.lr=0.01",
        "train.lr_schedule=cosine",
        "train.lr_warmup_steps=2",
    )
    result = fit(config)
    (metrics,) = result.run_dir.glob("csv/version_*/metrics.csv")
    with metrics.open() as handle:
        logged = [float(row["lr-Adam"]) for row in csv.DictReader(handle) if row["lr-Adam"]]
    schedule = LRSchedule("cosine", total_steps=4, warmup_steps=2)
    assert logged == pytest.approx([0.01 * schedule(t) for t in range(4)])


def test_class_count_mismatch_names_the_key() -> None:
    config = ExperimentConfig().replace("model.name=preactresnet18", "model.num_classes=8")
    with pytest.raises(ValueError, match="model.num_classes is 8 but the data has 3 classes"):
        FERAttModule(config.model.to_dict(), CLASSES)


def _csv_columns(run_dir: Path) -> set[str]:
    (metrics,) = run_dir.glob("csv/version_*/metrics.csv")
    with metrics.open() as handle:
        return set(next(csv.reader(handle)))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["real", "synthetic", "mixed"])
def test_fit_on_ckplus48_in_each_data_mode(
    mode: str, tiny_config: Callable[..., ExperimentConfig]
) -> None:
    config = tiny_config(f"data.mode={mode}")
    recorder = StepRecorder()
    result = fit(config, callbacks=[recorder])
    assert result.run_dir == config.run_dir
    assert len(recorder.steps) == 2 and all(b.target is None for _, b in recorder.steps)
    assert result.metrics["train/cls"] == pytest.approx(replayed_cls(recorder), rel=1e-4)
    trained = load_checkpoint(result.last_checkpoint).model
    assert "classifier.fc.weight" in weights_changed(recorder.steps[0][0], trained)
    terms = ("loss", "cls", "att", "rep", "acc")
    for term in terms:
        assert np.isfinite(result.metrics[f"train/{term}"])
        assert np.isfinite(result.metrics[f"val/{term}"])
    columns = _csv_columns(result.run_dir)
    assert {f"train/{t}_step" for t in terms} | {f"val/{t}" for t in terms} <= columns
    classes = ("happy", "surprise", "sad", "anger", "disgust", "fear", "contempt")
    for path in (result.best_checkpoint, result.last_checkpoint):
        checkpoint = load_checkpoint(path)
        assert checkpoint.config == config.model
        assert tuple(checkpoint.classes) == classes
    lightning_best = load_checkpoint(result.run_dir / "checkpoints" / "best.ckpt")
    assert lightning_best.config == config.model
    assert (result.run_dir / "attention_grid.png").stat().st_size > 0
    saved = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert ExperimentConfig.from_dict(saved) == config


@pytest.mark.slow
def test_cli_trains_a_fold(
    tiny_config: Callable[..., ExperimentConfig],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from feratt.cli import main

    config = tiny_config("model.name=preactresnet18", "data.mode=real", "data.folds=3")
    config_file = tmp_path / "fold_run.yaml"
    config_file.write_text(yaml.safe_dump({**config.to_dict(), "name": "fold_run"}))
    status = main(["train", "--config", str(config_file), "--fold", "1", "--logger", "none"])
    assert status == 0
    run_dir = config.replace("name=fold_run", "data.fold=1").run_dir
    assert run_dir.name == "fold1"
    out = capsys.readouterr().out
    assert f"run folder: {run_dir}" in out and "val/acc: " in out
    assert load_checkpoint(run_dir / "model-best.pt").config.name == "preactresnet18"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.steps_per_epoch=-1", "data.steps_per_epoch must be 0 (one pass"),
        ("train.max_epochs=-5", "train.max_epochs must be positive, or -1"),
        ("train.max_steps=-3", "train.max_steps must be positive, or -1 (epochs only); got -3"),
        ("train.accelerator=tpu", "train.accelerator must be one of auto, cpu, gpu, cuda, mps"),
        ("train.devices=abc", "train.devices must be a device count"),
        ("train.devices=0", "train.devices must be a device count"),
    ],
)
def test_cli_refuses_nonsense_run_settings_before_writing_anything(
    tiny_config: Callable[..., ExperimentConfig],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    override: str,
    message: str,
) -> None:
    from feratt.cli import main

    config = tiny_config("data.mode=real")
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(config.to_dict()))
    assert main(["train", "--config", str(config_file), override]) == 1
    err = capsys.readouterr().err
    assert err.startswith("feratt train: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not config.run_dir.exists()  # no untrained model-last.pt


def test_best_model_of_a_staged_run_comes_from_the_whole_network(
    tiny_config: Callable[..., ExperimentConfig],
) -> None:
    """Validations while G_rep trains alone (I_att still the input) never become the best model."""
    config = tiny_config(
        "data.mode=real",
        "train.max_epochs=4",
        "train.classifier_warmup_steps=4",
        "train.attention_detach_steps=-1",
    )
    result = fit(config)
    best = torch.load(result.run_dir / "checkpoints" / "best.ckpt", weights_only=False)
    (metrics,) = result.run_dir.glob("csv/version_*/metrics.csv")
    with metrics.open() as handle:
        validated = [int(row["step"]) for row in csv.DictReader(handle) if row["val/acc"]]
    assert len(validated) == 4  # steps 2, 4 (G_rep alone), 6 and 8 (the whole network)
    assert best["global_step"] in (6, 8)
    assert load_checkpoint(result.best_checkpoint).metadata["source"].endswith("best.ckpt")


def test_attention_blend_moves_g_rep_from_the_image_to_i_att_over_its_steps(
    tiny_config: Callable[..., ExperimentConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """train.attention_blend_steps=4 after a 2-step warm-up: the training steps give G_rep
    I, I, then t = 0, 1/4, 1/2, 3/4 of I_att, then I_att; validation sees I_att alone."""
    weights: list[tuple[bool, float]] = []
    forward = FERAtt.forward

    def recording(self, x, detach_attention=False, attention_weight=1.0, **kwargs):  # noqa: ANN001, ANN003, ANN202
        weights.append((torch.is_grad_enabled(), attention_weight))
        return forward(self, x, detach_attention, attention_weight, **kwargs)

    monkeypatch.setattr(FERAtt, "forward", recording)
    fit(tiny_config("data.mode=real", "train.max_epochs=4", "train.classifier_warmup_steps=2",
                    "train.attention_blend_steps=4", "train.precise_bn_batches=0"))  # fmt: skip
    training = [weight for grad, weight in weights if grad]
    assert training == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert {weight for grad, weight in weights if not grad} == {1.0}


def test_the_alignment_teacher_gives_the_true_face_mask_to_training_steps_only(
    tiny_config: Callable[..., ExperimentConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """train.alignment_teacher_steps=3 with model.alignment=moments: the first 3 training steps
    align by the face mask read off I_org, the later ones and every validation and precise-BN
    pass by G_att's maps."""
    masks: list[tuple[bool, torch.Tensor | None, torch.Tensor]] = []
    forward = FERAtt.forward

    def recording(self, x, *args, face_mask=None, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        output = forward(self, x, *args, face_mask=face_mask, **kwargs)
        masks.append((torch.is_grad_enabled(), face_mask, output.attention_image))
        return output

    monkeypatch.setattr(FERAtt, "forward", recording)
    fit(tiny_config("data.mode=mixed", "train.max_epochs=3", "model.alignment=moments",
                    "train.alignment_teacher_steps=3", "train.mask_weight=1",
                    "train.precise_bn_batches=1", "train.grid_every_n_epochs=0"))  # fmt: skip
    taught = [mask is not None for grad, mask, _ in masks if grad]
    assert taught == [True] * 3 + [False] * 3
    assert not any(mask is not None for grad, mask, _ in masks if not grad)
    for _, mask, _ in (m for m in masks if m[1] is not None):
        assert mask.shape[1] == 1 and set(mask.unique().tolist()) == {0.0, 1.0}
        assert 0.1 < mask.mean().item() < 0.9  # the face, not the frame or nothing


@pytest.mark.parametrize("warmup_input", ["image", "clean"])
def test_g_rep_warms_up_on_the_input_or_on_the_clean_face(
    tiny_config: Callable[..., ExperimentConfig],
    monkeypatch: pytest.MonkeyPatch,
    warmup_input: str,
) -> None:
    """train.classifier_warmup_input=clean: while G_rep trains alone, its training steps, its
    validations and precise BatchNorm all feed it I_org (the face on black); from the switch on,
    the whole network takes the input image. With ``image`` G_rep never sees I_org."""
    calls: list[tuple[str, bool, bool]] = []  # (path, gradients on, input is a face on black)
    whole, alone = FERAtt.forward, FERAtt.forward_classifier

    def on_black(x: torch.Tensor) -> bool:
        return (x == 0).float().mean().item() > 0.2

    def recording(self, x, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(("whole", torch.is_grad_enabled(), on_black(x)))
        return whole(self, x, *args, **kwargs)

    def recording_alone(self, x):  # noqa: ANN001, ANN202
        calls.append(("G_rep", torch.is_grad_enabled(), on_black(x)))
        return alone(self, x)

    monkeypatch.setattr(FERAtt, "forward", recording)
    monkeypatch.setattr(FERAtt, "forward_classifier", recording_alone)
    fit(tiny_config("data.mode=mixed", "train.max_epochs=4", "train.classifier_warmup_steps=4",
                    f"train.classifier_warmup_input={warmup_input}",
                    "train.precise_bn_batches=1", "train.grid_every_n_epochs=0"))  # fmt: skip
    assert [path for path, grad, _ in calls if grad] == ["G_rep"] * 4 + ["whole"] * 4
    assert {black for path, _, black in calls if path == "G_rep"} == {warmup_input == "clean"}
    assert not any(black for path, _, black in calls if path == "whole")
    # The first stage's validations and precise BN: G_rep alone on I_org, or the whole network.
    last_step = max(i for i, (path, grad, _) in enumerate(calls) if grad and path == "G_rep")
    first_stage = calls[:last_step]
    checks = {path for path, grad, _ in first_stage if not grad}
    assert checks == ({"G_rep"} if warmup_input == "clean" else {"whole"})


def test_an_unknown_warmup_input_names_the_key_and_the_choices() -> None:
    with pytest.raises(ValueError, match="train.classifier_warmup_input.*image, clean"):
        ExperimentConfig().replace("train.classifier_warmup_input=mask")


@pytest.mark.parametrize("channels_last", [True, False])
def test_channels_last_lays_out_the_model_in_nhwc_on_the_cpu_too(channels_last: bool) -> None:
    """train.channels_last holds on every device: oneDNN's NHWC kernels train FERAtt about 2x
    faster on the CPU (benchmarks/stage_throughput.py)."""
    model = ModelConfig("feratt_rep_cls", num_classes=len(CLASSES), width=0.0625)
    module = FERAttModule(model.to_dict(), CLASSES, train={"channels_last": channels_last})
    module.setup("fit")
    convolutions = [m.weight for m in module.model.modules() if isinstance(m, torch.nn.Conv2d)]
    layout = torch.channels_last if channels_last else torch.contiguous_format
    assert convolutions and all(w.is_contiguous(memory_format=layout) for w in convolutions)


def test_frozen_attention_stays_as_it_was_while_g_rep_trains_on(
    tiny_config: Callable[..., ExperimentConfig],
) -> None:
    """After train.attention_freeze_step, G_att, G_ft and G_rec (weights and BatchNorm statistics,
    precise BN included) are exactly those of the freeze step; G_rep keeps learning."""
    config = tiny_config(
        "data.mode=mixed",
        "train.max_epochs=3",
        "train.attention_freeze_step=2",
        "train.precise_bn_batches=2",
        "train.lr=1e-3",
    )
    result = fit(config)
    checkpoints = result.run_dir / "checkpoints"
    at_freeze, last = (
        torch.load(checkpoints / n) for n in ("epoch=000-step=0000002.ckpt", "last.ckpt")
    )
    assert last["global_step"] == 6
    frozen, final = at_freeze["state_dict"], last["state_dict"]
    attention = [k for k in frozen if not k.startswith("model.classifier.")]
    assert any("running_mean" in k for k in attention) and any("attention" in k for k in attention)
    for key in attention:
        assert torch.equal(frozen[key], final[key]), f"{key} moved after the freeze"
    classifier = [k for k in frozen if k.startswith("model.classifier.") and "weight" in k]
    assert all(not torch.equal(frozen[k], final[k]) for k in classifier)
    with pytest.raises(ValueError, match="attention_freeze_step .4. must come after"):
        config.replace("train.classifier_warmup_steps=4", "train.attention_freeze_step=4")
