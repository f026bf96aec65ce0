"""The records every loader yields and the prepared-face arrays the rest of feratt consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class FaceRecord:
    """One labelled image as a data set ships it.

    Args:
        image: uint8 array, HxW (grey) or HxWx3 (RGB).
        label: index into the data set's ``classes``.
        subject: subject id, or None when the data set has no subjects.
        landmarks: float32 array (P, 2) of (x, y) pixel coordinates, or None.
        path: the source file (for a CSV-backed set: ``file.csv:row``).
    """

    image: np.ndarray
    label: int
    subject: str | None
    landmarks: np.ndarray | None
    path: str


@dataclass
class PreparedFaces:
    """Aligned face crops with explicit face masks, stacked for fast training.

    The "dark" face of SPEC section 3 (I_org, the face on black) is ``faces * masks``; the crop
    itself keeps its real surroundings, which is what the "real" protocol feeds the model.

    Args:
        faces: uint8 (N, C, S, S), C = 1 (grey) or 3: the aligned crops.
        masks: bool (N, S, S), True on the face region.
        labels: int64 (N,), indices into ``classes``.
        subjects: (N,) array of str ("" when the data set has no subjects).
        paths: (N,) array of str, the source of each face.
        classes: canonical class names (see ``feratt.data.labels``).
        meta: how the faces were prepared (format, size, skipped files...).
        soft_labels: optional float32 (N, len(classes)) label distributions (FER+ votes).
    """

    faces: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    paths: np.ndarray
    classes: tuple[str, ...]
    meta: dict = field(default_factory=dict)
    soft_labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.faces)
        if self.faces.ndim != 4 or self.faces.dtype != np.uint8:
            raise ValueError(
                f"faces must be uint8 (N, C, S, S), got {self.faces.dtype} {self.faces.shape}"
            )
        if self.masks.shape != (n, *self.faces.shape[2:]):
            raise ValueError(
                f"masks must be (N, S, S) = {(n, *self.faces.shape[2:])}, got {self.masks.shape}"
            )
        for name in ("labels", "subjects", "paths"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} faces")
        if self.soft_labels is not None and self.soft_labels.shape != (n, len(self.classes)):
            raise ValueError(
                f"soft_labels must be (N, K) = {(n, len(self.classes))}, "
                f"got {self.soft_labels.shape}"
            )

    def __len__(self) -> int:
        return len(self.faces)

    def subset(self, index: np.ndarray) -> PreparedFaces:
        """The faces at `index` (an int array or a boolean mask)."""
        return PreparedFaces(
            self.faces[index],
            self.masks[index],
            self.labels[index],
            self.subjects[index],
            self.paths[index],
            self.classes,
            dict(self.meta),
            None if self.soft_labels is None else self.soft_labels[index],
        )
