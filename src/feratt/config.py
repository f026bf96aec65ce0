"""Typed configuration shared by the model builders, checkpoints and the training engine."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


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
    """

    name: str = "feratt_rep_cls"
    num_classes: int = 8
    embedding_dim: int = 64
    input_size: int = 64
    in_channels: int = 3
    width: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"unknown model config key(s) {sorted(unknown)}; expected {sorted(known)}"
            )
        return cls(**data)
