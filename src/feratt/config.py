"""Typed configuration shared by the model builders, checkpoints and the training engine."""

from __future__ import annotations

import dataclasses
import difflib
import re
import reprlib
import types
import typing
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import yaml

# The YAML recipes ship inside the package; the repository's ``configs/`` links here.
PACKAGED_CONFIGS = Path(__file__).parent / "configs"


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model: its registry name and builder arguments.

    Args:
        name: registry name (``preactresnet18``, ``feratt_cls``, ``feratt_rep_cls``).
        num_classes: K, the number of expression classes.
        embedding_dim: d, size of the representation z (Rep models; 64 in the paper).
        input_size: side of the square input image (64 default; 128 works).
        in_channels: 1 (grey) or 3.
        width: channel multiplier (1.0 = the paper's widths; small values for tests/demo).
        reconstruction: G_rec's output, ``residual`` (I_att starts as I, in [0, 1]) or
            ``paper`` (BatchNorm(3) -> ReLU, as in SPEC section 1).
        normalization: the fixed affine normalisation before G_rep, ``imagenet`` or ``cifar``
            (the authors' ``normalize_layer``).
        alignment: ``none`` (the paper) or ``moments``: G_rep classifies I_att resampled so that
            the face G_att's maps find is upright and centred (`feratt.models.alignment`); for
            attention models trained with L_mask (``train.mask_weight`` > 0; the baseline
            ignores it).
    """

    name: str = "feratt_rep_cls"
    num_classes: int = 8
    embedding_dim: int = 64
    input_size: int = 64
    in_channels: int = 3
    width: float = 1.0
    reconstruction: str = "residual"
    normalization: str = "imagenet"
    alignment: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def builder_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the registered builder ``self.name`` (all but the name)."""
        return {k: v for k, v in asdict(self).items() if k != "name"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"unknown model config key(s) {sorted(unknown)}; expected {sorted(known)}"
            )
        return cls(**data)


DATA_MODES = ("real", "synthetic", "mixed")
SAMPLINGS = ("balanced", "uniform")
LR_SCHEDULES = ("fixed", "step", "cosine")
LOGGERS = ("tensorboard", "visdom", "none")
REP_MEANS = ("batch", "leave_one_out", "detached")
MIXUP_LAMBDAS = ("batch", "pair")
# What G_rep sees while it trains alone (train.classifier_warmup_input).
WARMUP_INPUTS = ("image", "clean")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


QUOTE_LIMIT = 200
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = QUOTE_LIMIT
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 3, 10, 10


def _clip(text: str) -> str:
    """`text` cut to `QUOTE_LIMIT` characters for an error message."""
    return text if len(text) <= QUOTE_LIMIT else f"{text[:QUOTE_LIMIT]}..."


def _quote(value: Any) -> str:
    """A bounded ``repr(value)`` for an error message (nested data is elided, not walked)."""
    return _clip(_REPR.repr(value))


def _require_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{key} must be one of {', '.join(choices)}; got {_quote(value)}")


_DEVICE_LIST = re.compile(r"\s*\d+\s*(,\s*\d+\s*)*,?\s*")


def _check_devices(value: int | str) -> None:
    """Lightning's forms of ``devices``: a count (-1: all), ``auto``, or a list like ``0,2``."""
    if isinstance(value, int):
        if value == -1 or value >= 1:
            return
    elif value == "auto" or value.strip() == "-1" or _DEVICE_LIST.fullmatch(value):
        return
    raise ValueError(
        "train.devices must be a device count (-1: all), 'auto' or a list of device indices "
        f"like '0,1'; got {_quote(value)}"
    )


@dataclass(frozen=True)
class DataConfig:
    """Where the faces come from, how they are split and how training batches are made.

    Args:
        path: data set folder or file (see ``feratt.data.open_dataset``); None for in-memory data.
        format: data set format name, None to detect it.
        options: format-specific ``open_dataset`` options (e.g. ``frames: 3`` for CK+).
        train_split / val_split / test_split: the data set's own split names, when it has them
            (FER2013: ``train`` / ``val``). Without ``val_split`` a validation split is carved
            from the training subjects; test subjects are never used to select a model.
        folds: k of a subject-independent k-fold (0: no folds, use the splits as they are).
        fold: which fold is the test block (0 .. folds-1).
        val_fraction: share of the training subjects held out for validation.
        backgrounds: folder of background photos for the synthetic and mixed modes.
        background_test_fraction / background_val_fraction: backgrounds reserved for the
            synthetic test set and for validation; training never sees them.
        mode: ``real`` (aligned crops, light augmentation), ``synthetic`` (compositor) or
            ``mixed`` (a ``synthetic_fraction`` of every batch composited).
        val_mode: the same choice for validation batches (model selection); default: ``mode``.
        batch_size: images per step and per device.
        sampling: ``balanced`` (a class uniformly, then one of its faces: SPEC section 3) or
            ``uniform`` over the training faces.
        steps_per_epoch: optimiser steps per epoch (0: one pass over the training faces).
        augment: flip and small affine jitter for real-mode images.
        soft_labels: train L_cls on the data set's label distributions (FER+ annotator votes)
            instead of its majority labels; sampling, L_rep and metrics keep the majority label.
        compositor: ``CompositorConfig`` overrides (key: value).
        cache_dir: where prepared faces are cached.
        seed: seed of the fold, validation and background splits.
    """

    path: str | None = None
    format: str | None = None
    options: dict = field(default_factory=dict)
    train_split: str | None = None
    val_split: str | None = None
    test_split: str | None = None
    folds: int = 0
    fold: int = 0
    val_fraction: float = 0.1
    backgrounds: str | None = None
    background_test_fraction: float = 0.2
    background_val_fraction: float = 0.1
    mode: str = "synthetic"
    val_mode: str | None = None
    synthetic_fraction: float = 0.5
    batch_size: int = 32
    sampling: str = "balanced"
    steps_per_epoch: int = 0
    augment: bool = True
    soft_labels: bool = False
    compositor: dict = field(default_factory=dict)
    cache_dir: str = "~/.cache/feratt"
    seed: int = 0

    def __post_init__(self) -> None:
        _require_choice("data.mode", self.mode, DATA_MODES)
        _require_choice("data.sampling", self.sampling, SAMPLINGS)
        if self.val_mode is not None:
            _require_choice("data.val_mode", self.val_mode, DATA_MODES)
        if self.folds < 0:
            raise ValueError(f"data.folds must be 0 (no k-fold) or more; got {self.folds}")
        if self.folds == 0 and self.fold != 0:
            raise ValueError(f"data.fold is {self.fold} but data.folds is 0 (no k-fold split)")
        if self.folds and not 0 <= self.fold < self.folds:
            raise ValueError(f"data.fold must be in [0, {self.folds}) with data.folds={self.folds}")
        if self.batch_size < 1:
            raise ValueError(f"data.batch_size must be positive; got {self.batch_size}")
        if self.steps_per_epoch < 0:
            raise ValueError(
                "data.steps_per_epoch must be 0 (one pass over the training faces) or a step "
                f"count; got {self.steps_per_epoch}"
            )
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in [0, 1); got {self.val_fraction}")
        for key in ("background_test_fraction", "background_val_fraction"):
            if not 0.0 < getattr(self, key) < 1.0:
                raise ValueError(f"data.{key} must be in (0, 1); got {getattr(self, key)}")
        if not 0.0 <= self.synthetic_fraction <= 1.0:
            raise ValueError(
                f"data.synthetic_fraction must be in [0, 1]; got {self.synthetic_fraction}"
            )

    def check_paths(self) -> None:
        """Fail early, naming the key, when a data path the run needs is missing."""
        if self.path is None:
            raise ValueError("data.path is not set: give the data set folder (data.path=...)")
        if not Path(self.path).expanduser().exists():
            raise FileNotFoundError(f"data.path: {self.path} does not exist")
        if self.mode != "real":
            if self.backgrounds is None:
                raise ValueError(f"data.backgrounds is not set but data.mode is {self.mode!r}")
            if not Path(self.backgrounds).expanduser().is_dir():
                raise FileNotFoundError(f"data.backgrounds: {self.backgrounds} is not a folder")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule, hardware, checkpointing and logging of a training run.

    Args:
        max_epochs / max_steps: stopping point (max_steps -1: epochs only; max_epochs -1:
            steps only).
        lr, weight_decay, amsgrad: Adam settings (the paper: 1e-4, 0, amsgrad).
        lr_schedule: ``fixed``, ``step`` (x lr_gamma every lr_step_epochs) or ``cosine``
            (per optimiser step, to 0 at the end of the run).
        lr_warmup_steps: linear learning-rate warm-up over the first steps (0: none).
        loss_sigma, mixup, mixup_lambda: FERAttLoss settings (SPEC section 2; mixup_lambda:
            one mixing coefficient per ``batch``, as the authors drew it, or per ``pair``).
        rep_normalize: score L_rep on z / ||z|| (scale-free; sigma is then on the unit sphere).
        rep_means: L_rep's class means: ``batch`` (the paper's), ``leave_one_out``, ``detached``.
        att_weight, rep_weight: weights of L_att and L_rep in the total loss (the paper: 1, 1).
        mask_weight: weight of L_mask, a cross-entropy between G_att's maps and the face mask
            (I_org > 0): supervision the paper does not use, which teaches G_att where the face
            is instead of a centred prior (0: off, the paper's losses only).
        classifier_warmup_steps: train G_rep alone on the input image for this many first steps
            (about 6x cheaper per step), then the whole network; needs the ``residual`` G_rec
            so that I_att starts as the image G_rep learnt on.
        classifier_warmup_input: what G_rep sees in those steps: ``image`` (the input) or
            ``clean`` (I_org, L_att's target: the face on black, what a trained I_att becomes),
            so that the switch to I_att barely changes G_rep's input; validation and precise
            BatchNorm of that stage see the same.
        attention_detach_steps: until this global step (-1: the whole run), G_rep's gradients
            stop at I_att, so G_att, G_ft and G_rec learn the clean face from L_att alone
            instead of being pulled towards the input image by L_cls.
        attention_blend_steps: over this many first steps (0: off), G_rep's input moves
            linearly from the input image to I_att, ``(1 - t) * I + t * I_att`` with
            ``t = step / attention_blend_steps``, so G_rep learns on the image while the
            attention is still forming; evaluation and every step after see I_att alone.
        attention_freeze_step: from this global step on (0: never), G_att, G_ft and G_rec
            are fixed (eval mode, no gradients) and G_rep trains on a stationary I_att; the
            steps after it cost about a third of a whole-network step.
        alignment_teacher_steps: until this global step (-1: the whole run; 0: never), the
            ``moments`` alignment (``model.alignment``) of training steps measures the true face
            mask (I_org > 0) instead of G_att's maps, so G_rep learns on upright faces before
            G_att knows where they are; validation and inference always use G_att's maps.
        attention_lr_scale: learning rate of G_att, G_ft and G_rec (and the STN's localisation
            net) relative to ``lr``; G_rep keeps ``lr``.
        precise_bn_batches: before each validation (and at the end of each epoch), recompute
            the BatchNorm running statistics over this many fresh training batches (0: off).
        seed: seed of weights, sampling and compositing.
        accelerator, devices, num_nodes, strategy: Lightning Trainer hardware settings
            (accelerator: auto, cpu, gpu, cuda or mps; devices: a count, -1 for all, ``auto``
            or a list of indices like ``0,1``).
        precision: ``auto`` (bf16-mixed on GPU, 32 on CPU) or any Lightning precision.
        channels_last: NHWC weights and batches (faster on GPUs and on the CPU's oneDNN).
        compile: torch.compile the model (GPU speed option).
        checkpoint_every_n_epochs / checkpoint_every_n_steps: periodic checkpoints (steps, when
            positive, take precedence); the best-on-validation checkpoint is always kept.
        val_every_n_epochs: validation period.
        logger: ``tensorboard``, ``visdom`` or ``none`` (a CSV log is always written).
        visdom_server, visdom_port, visdom_env: where the visdom logger posts (env: run name).
        grid_every_n_epochs: period of the input | attention image | attention map grid.
        log_every_n_steps, progress_bar: Lightning logging cadence and the rich progress bar.
        resume: continue from the run folder's last checkpoint when there is one.
        init: start from these weights instead of random ones: ``pretrained`` (the shipped
            model), ``pretrained:NAME`` or a checkpoint path; tensors whose shapes differ (a
            head for other classes) keep their fresh initialisation.
    """

    max_epochs: int = 60
    max_steps: int = -1
    lr: float = 1e-4
    weight_decay: float = 0.0
    amsgrad: bool = True
    lr_schedule: str = "fixed"
    lr_step_epochs: int = 20
    lr_gamma: float = 0.1
    lr_warmup_steps: int = 0
    loss_sigma: float = 0.5
    mixup: bool = False
    mixup_lambda: str = "batch"
    rep_normalize: bool = True
    rep_means: str = "leave_one_out"
    att_weight: float = 1.0
    rep_weight: float = 1.0
    mask_weight: float = 0.0
    classifier_warmup_steps: int = 0
    classifier_warmup_input: str = "image"
    attention_detach_steps: int = -1
    attention_blend_steps: int = 0
    attention_freeze_step: int = 0
    alignment_teacher_steps: int = 0
    attention_lr_scale: float = 1.0
    precise_bn_batches: int = 16
    seed: int = 0
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    channels_last: bool = True
    compile: bool = False
    checkpoint_every_n_epochs: int = 1
    checkpoint_every_n_steps: int = 0
    val_every_n_epochs: int = 1
    logger: str = "tensorboard"
    visdom_server: str = "http://localhost"
    visdom_port: int = 8097
    visdom_env: str | None = None
    grid_every_n_epochs: int = 1
    log_every_n_steps: int = 10
    progress_bar: bool = True
    resume: bool = True
    init: str | None = None

    def __post_init__(self) -> None:
        if self.max_epochs < 1 and self.max_epochs != -1:
            raise ValueError(
                "train.max_epochs must be positive, or -1 (no limit: stop at train.max_steps); "
                f"got {self.max_epochs}"
            )
        if self.max_steps < 1 and self.max_steps != -1:
            raise ValueError(
                f"train.max_steps must be positive, or -1 (epochs only); got {self.max_steps}"
            )
        if self.max_epochs == -1 and self.max_steps == -1:
            raise ValueError("train.max_epochs is -1 (no limit) but train.max_steps is not set")
        _require_choice("train.accelerator", self.accelerator, ACCELERATORS)
        _check_devices(self.devices)
        if self.num_nodes < 1:
            raise ValueError(f"train.num_nodes must be positive; got {self.num_nodes}")
        _require_choice("train.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _require_choice("train.logger", self.logger, LOGGERS)
        _require_choice("train.rep_means", self.rep_means, REP_MEANS)
        _require_choice("train.mixup_lambda", self.mixup_lambda, MIXUP_LAMBDAS)
        _require_choice(
            "train.classifier_warmup_input", self.classifier_warmup_input, WARMUP_INPUTS
        )
        if self.loss_sigma <= 0:
            raise ValueError(f"train.loss_sigma must be positive; got {self.loss_sigma}")
        for key in ("att_weight", "rep_weight", "mask_weight", "classifier_warmup_steps",
                    "attention_blend_steps", "attention_freeze_step"):  # fmt: skip
            if getattr(self, key) < 0:
                raise ValueError(f"train.{key} must be >= 0; got {getattr(self, key)}")
        if 0 < self.attention_freeze_step <= self.classifier_warmup_steps:
            raise ValueError(
                f"train.attention_freeze_step ({self.attention_freeze_step}) must come after "
                f"train.classifier_warmup_steps ({self.classifier_warmup_steps}): the attention "
                "modules would be frozen before they trained"
            )
        if self.lr <= 0:
            raise ValueError(f"train.lr must be positive; got {self.lr}")
        if self.attention_lr_scale <= 0:
            raise ValueError(
                f"train.attention_lr_scale must be positive; got {self.attention_lr_scale}"
            )
        if self.lr_warmup_steps < 0:
            raise ValueError(f"train.lr_warmup_steps must be >= 0; got {self.lr_warmup_steps}")
        if self.attention_detach_steps < -1:
            raise ValueError(
                "train.attention_detach_steps must be -1 (the whole run), 0 (never) or a step; "
                f"got {self.attention_detach_steps}"
            )
        if self.precise_bn_batches < 0:
            raise ValueError(
                f"train.precise_bn_batches must be >= 0; got {self.precise_bn_batches}"
            )


@dataclass(frozen=True)
class ExperimentConfig:
    """One training run: model, data and training settings plus where its outputs go.

    Args:
        name: run name; outputs go to ``output_dir/name`` (``/fold<k>`` for k-fold data).
        output_dir: parent folder of run folders.
    """

    name: str = "feratt"
    output_dir: str = "runs"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def run_dir(self) -> Path:
        run = Path(self.output_dir).expanduser() / self.name
        return run / f"fold{self.data.fold}" if self.data.folds else run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        """Build from nested plain data, checking every key and type (errors name the key)."""
        return _build(cls, data, prefix="")

    def replace(self, *overrides: str) -> ExperimentConfig:
        """A copy with dotted ``key=value`` overrides applied (values parsed as YAML)."""
        return ExperimentConfig.from_dict(apply_overrides(self.to_dict(), overrides))


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {_quote(data)}")
    hints = get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in hints:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {prefix + close[0]!r}?" if close else ""
            raise ValueError(f"unknown config key {_quote(prefix + str(key))}{hint}")
        hint_type = hints[key]
        if dataclasses.is_dataclass(hint_type):
            kwargs[key] = _build(hint_type, value, prefix=f"{prefix}{key}.")
        else:
            kwargs[key] = _check_type(f"{prefix}{key}", value, hint_type)
    return cls(**kwargs)


_FLOAT_TEXT = re.compile(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+")


def _check_type(key: str, value: Any, expected: Any) -> Any:
    """`value` if it fits the annotation `expected` (int accepted for float), else ValueError."""
    if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value):
        value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
    options = typing.get_args(expected) if _is_union(expected) else (expected,)
    for option in options:
        origin = typing.get_origin(option) or option
        if option is type(None) and value is None:
            return None
        if origin is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if origin in (str, bool, dict) and isinstance(value, origin):
            return value
    names = " or ".join(getattr(o, "__name__", str(o)).replace("NoneType", "null") for o in options)
    raise ValueError(
        f"config key {key!r} must be {names}; got {_quote(value)} ({type(value).__name__})"
    )


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


MAX_YAML_NODES = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader refusing documents whose aliases expand to more than `MAX_YAML_NODES` nodes
    (a "billion laughs" config would otherwise blow up when copied, merged or printed)."""

    def construct_document(self, node: yaml.Node) -> Any:
        sizes: dict[int, int] = {}

        def size(item: yaml.Node, path: tuple[int, ...]) -> int:
            if id(item) in path:
                raise yaml.constructor.ConstructorError(
                    None, None, "a recursive alias (an anchor used inside itself)", item.start_mark
                )
            if id(item) not in sizes:
                children = item.value if isinstance(item, yaml.SequenceNode) else []
                if isinstance(item, yaml.MappingNode):
                    children = [child for pair in item.value for child in pair]
                sizes[id(item)] = 1 + sum(size(child, (*path, id(item))) for child in children)
            return sizes[id(item)]

        if size(node, ()) > MAX_YAML_NODES:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"its aliases expand to more than {MAX_YAML_NODES:,} values",
                node.start_mark,
            )
        return super().construct_document(node)


def _load_yaml(text: str, source: str) -> Any:
    """`text` parsed as safe YAML; a one-line ValueError naming `source` when it is not."""
    try:
        return yaml.load(text, Loader=_BoundedLoader)
    except RecursionError:
        raise ValueError(f"{source} is nested too deeply to be a config") from None
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or " ".join(str(err).split())
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ValueError(f"{source}: invalid or unsafe YAML: {_clip(problem)}{where}") from None


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply dotted ``section.key=value`` overrides to nested config data (values are YAML)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(
                f"override {_quote(item)} is not of the form key=value (e.g. train.lr=1e-3)"
            )
        value = _load_yaml(text, f"override {_quote(item)}") if text else None
        update: dict[str, Any] = {}
        node = update
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        data = _deep_merge(data, update)
    return data


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """YAML mapping of `path` with its ``defaults:`` files (relative paths) merged underneath."""
    path = path.resolve()
    if path in seen:
        raise ValueError(f"config {path} includes itself (via {' -> '.join(map(str, seen))})")
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    data = _load_yaml(path.read_text(), f"config file {path}") or {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    includes = data.pop("defaults", []) or []
    if isinstance(includes, str):
        includes = [includes]
    merged: dict[str, Any] = {}
    for include in includes:
        merged = _deep_merge(merged, _read_yaml(path.parent / include, (*seen, path)))
    return _deep_merge(merged, data)


def packaged_configs() -> list[str]:
    """Names of the YAML files shipped in the package (``release/fer2013_feratt``, ...)."""
    return sorted(
        p.relative_to(PACKAGED_CONFIGS).with_suffix("").as_posix()
        for p in PACKAGED_CONFIGS.rglob("*.yaml")
    )


def resolve_config(path: str | Path) -> Path:
    """`path` itself when it is a file, else the packaged config of that name (``.yaml`` optional),
    so that ``feratt train --config fer2013_feratt_rep_cls`` works from any folder."""
    path = Path(path)
    if path.is_file():
        return path
    name = path.as_posix().removesuffix(".yaml")
    packaged = PACKAGED_CONFIGS / f"{name}.yaml"
    if not path.is_absolute() and packaged.is_file():
        return packaged
    close = difflib.get_close_matches(name, packaged_configs(), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (see {PACKAGED_CONFIGS})"
    raise FileNotFoundError(
        f"config {str(path)!r} is neither a file nor the name of a packaged config{hint}"
    )


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read an experiment YAML (with its ``defaults:`` includes), apply ``key=value`` overrides.

    `path` is a file or the name of a packaged config (see ``resolve_config``). The run name
    defaults to the file's stem. Errors name the offending key or file.
    """
    path = resolve_config(path)
    data = apply_overrides(_read_yaml(path), overrides)
    data.setdefault("name", path.stem)
    return ExperimentConfig.from_dict(data)
