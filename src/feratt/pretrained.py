"""Weights shipped inside the package, found by name and checked against their SHA-256.

``load_pretrained("fer2013_feratt")`` reads ``feratt/models/weights/fer2013_feratt.pt``, a
``save_checkpoint`` file, or the file of that name in ``$FERATT_PRETRAINED_DIR`` when it is set.
Weights are built, never downloaded: ``feratt train --config configs/release/<name>.yaml``, then
``python scripts/release_weights.py RUN_DIR``, which writes the file and records its SHA-256 here.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from feratt.checkpoint import Checkpoint, load_checkpoint

WEIGHTS_DIR = Path(__file__).parent / "models" / "weights"
PRETRAINED_DIR_ENV = "FERATT_PRETRAINED_DIR"
DEFAULT_PRETRAINED = "fer2013_feratt"

# The only record of each released file's SHA-256. scripts/release_weights.py rewrites the line
# of weights NAME, the constant NAME.upper() + "_SHA256"; None until the weights are released.
FER2013_FERATT_SHA256: str | None = "3dad4a24e0bf36c3387bd58bc4059acb5750098b7a4a16d4a1afc9dbee13ae9b"  # noqa: E501  # fmt: skip


class PretrainedWeightsMissing(FileNotFoundError):
    """The weights file of a registered name is not in this installation."""


@dataclass(frozen=True)
class PretrainedWeights:
    """One shipped weights file and how it is made.

    Args:
        name: registry key, e.g. ``fer2013_feratt``.
        filename: the file in ``WEIGHTS_DIR`` (or in ``$FERATT_PRETRAINED_DIR``).
        sha256: hex SHA-256 the file must have; None while none has been released.
        description: the model and what it was trained on.
        config: packaged training config of the weights (``configs/<config>.yaml``).
    """

    name: str
    filename: str
    sha256: str | None
    description: str
    config: str

    @property
    def build_instructions(self) -> str:
        """How to make the file, as shell commands run in the repository."""
        return (
            f"build them with `feratt train --config configs/{self.config}.yaml`, then "
            "`python scripts/release_weights.py RUN_DIR` (the run folder training prints)"
        )


PRETRAINED: dict[str, PretrainedWeights] = {
    "fer2013_feratt": PretrainedWeights(
        name="fer2013_feratt",
        filename="fer2013_feratt.pt",
        sha256=FER2013_FERATT_SHA256,
        description="FERAtt+Rep+Cls on FER2013: 7 expressions, 64x64 faces",
        config="release/fer2013_feratt",
    ),
}


def pretrained_weights(name: str = DEFAULT_PRETRAINED) -> PretrainedWeights:
    """The registry entry `name`; KeyError listing the known names otherwise."""
    if name not in PRETRAINED:
        raise KeyError(f"unknown pretrained weights {name!r}; known: {', '.join(PRETRAINED)}")
    return PRETRAINED[name]


def pretrained_path(name: str = DEFAULT_PRETRAINED) -> Path:
    """Where the file of `name` is expected: ``$FERATT_PRETRAINED_DIR`` if set, else the package."""
    directory = os.environ.get(PRETRAINED_DIR_ENV)
    folder = Path(directory).expanduser() if directory else WEIGHTS_DIR
    return folder / pretrained_weights(name).filename


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_pretrained(name: str = DEFAULT_PRETRAINED, path: str | Path | None = None) -> Path:
    """The file of `name` (or `path`, another copy of it), once its SHA-256 is the recorded one.

    Raises ``PretrainedWeightsMissing`` when there is no file, ValueError naming the file and
    both hashes when it differs (truncated, corrupt or another model).
    """
    weights = pretrained_weights(name)
    file = Path(path) if path is not None else pretrained_path(name)
    if not file.is_file():
        raise PretrainedWeightsMissing(
            f"the pretrained weights {name!r} are not in this installation ({file} does not "
            f"exist); {weights.build_instructions}"
        )
    if weights.sha256 is None:
        raise ValueError(
            f"{file}: no SHA-256 is recorded for the pretrained weights {name!r} "
            f"({name.upper()}_SHA256 in {__name__}); record it with scripts/release_weights.py"
        )
    actual = file_sha256(file)
    if actual != weights.sha256:
        raise ValueError(
            f"{file} ({file.stat().st_size} bytes) is not the released {name!r} weights file: "
            f"SHA-256 {actual}, expected {weights.sha256} (truncated, corrupt or replaced?)"
        )
    return file


def load_pretrained(
    name: str = DEFAULT_PRETRAINED,
    map_location: str | torch.device = "cpu",
    path: str | Path | None = None,
) -> Checkpoint:
    """The shipped model `name` (eval mode), after ``verify_pretrained``; `path` reads another
    copy of the same file. ``Checkpoint.temperature`` is its logits' calibration temperature."""
    return load_checkpoint(verify_pretrained(name, path), map_location=map_location)
