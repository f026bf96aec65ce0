"""One-file checkpoints that carry a model's config with its weights, so any registered model
rebuilds exactly (this module sits above ``feratt.models``, which never imports it).

Format (one `torch.save` file, read back with `weights_only=True`, i.e. no pickled code):
``{"format": "feratt", "version": 1, "config": ModelConfig.to_dict(), "classes": [str] | None,
"metadata": {JSON-like}, "state_dict": {name: tensor}}``. `load_checkpoint` also reads a
Lightning ``.ckpt`` whose ``hyper_parameters`` hold ``model`` (a ModelConfig dict) and
``classes``, with the network under the LightningModule attribute ``model`` (keys ``model.*``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from feratt.config import ModelConfig
from feratt.fileio import torch_save
from feratt.models import FERAtt, create_model
from feratt.models._state import describe_mismatch

FORMAT = "feratt"
VERSION = 1
_LIGHTNING_PREFIX = "model."


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model (eval mode), its class names and free metadata."""

    model: FERAtt
    classes: tuple[str, ...] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def temperature(self) -> float:
        """Calibration temperature T of the logits (probabilities are softmax(logits / T)):
        ``metadata["temperature"]``, 1.0 when the checkpoint has none."""
        return float(self.metadata.get("temperature", 1.0))


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    classes: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write `model` (with its `.config`), class names and JSON-like metadata to `path` (through a
    temporary file beside it, so a failed write leaves any previous file intact)."""
    path = Path(path)
    model = getattr(model, "_orig_mod", model)  # unwrap torch.compile
    config = getattr(model, "config", None)
    if not isinstance(config, ModelConfig):
        raise ValueError(f"cannot save {type(model).__name__} to {path}: it has no ModelConfig")
    if classes is not None and len(classes) != config.num_classes:
        raise ValueError(
            f"cannot save to {path}: {len(classes)} class names for {config.num_classes} classes"
        )
    metadata = dict(metadata or {})
    try:
        json.dumps(metadata)
    except TypeError as err:
        raise ValueError(f"cannot save to {path}: metadata must be JSON-like ({err})") from err
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_dict(),
        "classes": None if classes is None else [str(c) for c in classes],
        "metadata": metadata,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return torch_save(payload, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model stored at `path` (feratt format or Lightning .ckpt), in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: not a readable feratt checkpoint ({err})") from err
    config_dict, classes, metadata, state = _unpack(path, payload)
    try:
        config = ModelConfig.from_dict(config_dict)
        # Shapes only (no memory), so a config that disagrees with the weights (a huge width,
        # say) is refused before anything is allocated.
        with torch.device("meta"):
            skeleton = build_model(config)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        message = err.args[0] if err.args else err
        raise ValueError(f"{path}: cannot rebuild the model from its config: {message}") from err
    mismatch = describe_mismatch(skeleton.state_dict(), state)
    if mismatch:
        raise ValueError(f"{path}: weights do not match the stored config {config}: {mismatch}")
    if classes is not None and len(classes) != config.num_classes:
        raise ValueError(
            f"{path}: {len(classes)} class names {list(classes)[:10]} for a model with "
            f"{config.num_classes} outputs"
        )
    model = build_model(config)
    model.load_state_dict(state)
    model.to(map_location).eval()
    return Checkpoint(model, None if classes is None else tuple(classes), metadata)


def build_model(config: ModelConfig) -> FERAtt:
    """The registered model ``config.name`` built with the config's arguments."""
    model = create_model(config.name, **config.builder_kwargs())
    if not isinstance(model, FERAtt):
        raise TypeError(f"model {config.name!r} builds a {type(model).__name__}, not a FERAtt")
    return model


def _unpack(path: Path, payload: Any) -> tuple[dict, list | None, dict, dict]:
    """(config, classes, metadata, state_dict) from either supported layout."""
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        if payload.get("version") != VERSION:
            raise ValueError(
                f"{path}: feratt checkpoint version {payload.get('version')!r} is not supported "
                f"(this feratt reads version {VERSION})"
            )
        return payload["config"], payload["classes"], payload["metadata"], payload["state_dict"]
    hparams = payload.get("hyper_parameters") if isinstance(payload, dict) else None
    if isinstance(hparams, dict) and isinstance(hparams.get("model"), dict):
        # "_orig_mod." appears when the LightningModule holds a torch.compile'd network.
        state = {
            k.removeprefix(_LIGHTNING_PREFIX).removeprefix("_orig_mod."): v
            for k, v in payload.get("state_dict", {}).items()
            if k.startswith(_LIGHTNING_PREFIX)
        }
        metadata = {k: payload[k] for k in ("epoch", "global_step") if k in payload}
        return hparams["model"], hparams.get("classes"), metadata, state
    raise ValueError(
        f"{path}: not a feratt checkpoint (expected format={FORMAT!r}, or a Lightning checkpoint "
        "whose hyper_parameters hold a 'model' config dict)"
    )
