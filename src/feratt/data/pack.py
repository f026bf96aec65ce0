"""A compact, lossless single-file pack of prepared faces and backgrounds (to ship real data).

Images are coded as the residuals of the LOCO-I median edge predictor (JPEG-LS's) compressed
with LZMA, masks as packed bits, labels and texts as LZMA'd bytes; each array's SHA-256 is
stored and checked on load, so a pack either loads exactly or fails. The container is an
uncompressed ``.npz`` (a zip of byte arrays) whose ``index`` member is a JSON description.
"""

from __future__ import annotations

import hashlib
import json
import lzma
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from feratt.data.preparation import ellipse_mask, image_transform, warp
from feratt.data.records import PreparedFaces
from feratt.fileio import atomic_write

PACK_VERSION = 1
# LZMA2 with 4 literal context bits suits predictor residuals (measured on FER2013).
_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 6, "lc": 4}]


@dataclass
class FacePack:
    """What a pack holds: named prepared face sets and an optional background stack."""

    faces: dict[str, PreparedFaces] = field(default_factory=dict)
    backgrounds: np.ndarray | None = None


def _compress(data: bytes) -> np.ndarray:
    return np.frombuffer(lzma.compress(data, format=lzma.FORMAT_XZ, filters=_FILTERS), np.uint8)


def _decompress(blob: np.ndarray) -> bytes:
    return lzma.decompress(blob.tobytes())


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _planes(images: np.ndarray) -> np.ndarray:
    """uint8 (..., H, W) -> (P, H + 1, W + 1) int16 planes with a zero top row and left column."""
    flat = images.reshape(-1, *images.shape[-2:]).astype(np.int16)
    return np.pad(flat, ((0, 0), (1, 0), (1, 0)))


def _median_edge(left: np.ndarray, up: np.ndarray, corner: np.ndarray) -> np.ndarray:
    """LOCO-I prediction: min/max of left and up at an edge, else left + up - corner."""
    low, high = np.minimum(left, up), np.maximum(left, up)
    return np.where(corner >= high, low, np.where(corner <= low, high, left + up - corner))


def encode_images(images: np.ndarray) -> np.ndarray:
    """uint8 images (..., H, W) -> LZMA'd median-edge residuals (decode with `decode_images`)."""
    padded = _planes(images)
    prediction = _median_edge(padded[:, 1:, :-1], padded[:, :-1, 1:], padded[:, :-1, :-1])
    residual = (padded[:, 1:, 1:] - prediction).astype(np.uint8)  # modulo 256
    return _compress(residual.tobytes())


def decode_images(blob: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Invert `encode_images`.

    A pixel depends only on pixels of earlier anti-diagonals, so the padded planes are stored
    sheared (``skew[p + q, :, p] = padded[:, p, q]``): every diagonal of every image is then one
    contiguous slice, reconstructed in one vectorised step.
    """
    height, width = shape[-2:]
    residual = np.frombuffer(_decompress(blob), np.uint8).reshape(-1, height, width)
    rows, cols = np.indices((height, width))
    skewed_residual = np.zeros((height + width + 1, len(residual), height + 1), np.int16)
    skewed_residual[rows + cols + 2, :, rows + 1] = residual.transpose(1, 2, 0)
    skew = np.zeros_like(skewed_residual)
    for diagonal in range(2, height + width + 1):
        first, last = max(1, diagonal - width), min(height, diagonal - 1)
        here, above = slice(first, last + 1), slice(first - 1, last)
        prediction = _median_edge(
            skew[diagonal - 1, :, here], skew[diagonal - 1, :, above], skew[diagonal - 2, :, above]
        )
        skew[diagonal, :, here] = (prediction + skewed_residual[diagonal, :, here]) % 256
    images = skew[rows + cols + 2, :, rows + 1]  # (H, W, P)
    return images.transpose(2, 0, 1).astype(np.uint8).reshape(shape)


def _text_blob(values: np.ndarray) -> np.ndarray:
    return _compress(json.dumps([str(v) for v in values]).encode())


def _text_array(blob: np.ndarray) -> np.ndarray:
    return np.array(json.loads(_decompress(blob)), dtype=str)


def save_pack(
    path: str | Path, backgrounds: np.ndarray | None = None, **faces: PreparedFaces
) -> Path:
    """Write named PreparedFaces sets (and uint8 backgrounds (B, H, W) or (B, C, H, W)) to `path`.

    Names must be plain identifiers (e.g. ``fer2013_train``); meta must be JSON-serialisable.
    """
    if not faces and backgrounds is None:
        raise ValueError("nothing to pack: give face sets and/or backgrounds")
    arrays: dict[str, np.ndarray] = {}
    index: dict = {"version": PACK_VERSION, "sets": {}, "backgrounds": None}
    for name, prepared in faces.items():
        if not name.isidentifier():
            raise ValueError(f"pack set name {name!r} must be an identifier")
        arrays[f"{name}.faces"] = encode_images(prepared.faces)
        arrays[f"{name}.masks"] = _compress(np.packbits(prepared.masks, axis=None).tobytes())
        arrays[f"{name}.labels"] = _compress(np.asarray(prepared.labels, np.int64).tobytes())
        arrays[f"{name}.subjects"] = _text_blob(prepared.subjects)
        arrays[f"{name}.paths"] = _text_blob(prepared.paths)
        index["sets"][name] = {
            "shape": list(prepared.faces.shape),
            "classes": list(prepared.classes),
            "meta": prepared.meta,
            "sha256": {"faces": _digest(prepared.faces), "masks": _digest(prepared.masks)},
        }
    if backgrounds is not None:
        backgrounds = np.asarray(backgrounds)
        if backgrounds.dtype != np.uint8 or backgrounds.ndim not in (3, 4):
            raise ValueError(
                f"backgrounds must be uint8 (B, H, W) or (B, C, H, W), got "
                f"{backgrounds.dtype} {backgrounds.shape}"
            )
        arrays["backgrounds"] = encode_images(backgrounds)
        index["backgrounds"] = {"shape": list(backgrounds.shape), "sha256": _digest(backgrounds)}
    arrays["index"] = np.frombuffer(json.dumps(index).encode(), np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as handle:  # a file handle keeps numpy from appending ".npz"
        np.savez(handle, **arrays)
    return path


def _checked(array: np.ndarray, digest: str, what: str, path: Path) -> np.ndarray:
    if _digest(array) != digest:
        raise ValueError(f"{path}: {what} do not match their checksum (corrupt pack)")
    return array


def load_pack(path: str | Path) -> FacePack:
    """Read a pack written by `save_pack`, verifying every face and background array."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"face pack {path} does not exist")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a face pack ({err})") from err
    with archive:
        if "index" not in archive.files:
            raise ValueError(f"{path}: not a face pack (no index)")
        index = json.loads(archive["index"].tobytes())
        if index.get("version") != PACK_VERSION:
            raise ValueError(f"{path}: pack version {index.get('version')}, need {PACK_VERSION}")
        pack = FacePack()
        for name, entry in index["sets"].items():
            shape = tuple(entry["shape"])
            faces = decode_images(archive[f"{name}.faces"], shape)
            bits = np.frombuffer(_decompress(archive[f"{name}.masks"]), np.uint8)
            count = shape[0] * shape[2] * shape[3]
            masks = np.unpackbits(bits, count=count).astype(bool).reshape(shape[0], *shape[2:])
            pack.faces[name] = PreparedFaces(
                _checked(faces, entry["sha256"]["faces"], f"{name} faces", path),
                _checked(masks, entry["sha256"]["masks"], f"{name} masks", path),
                np.frombuffer(_decompress(archive[f"{name}.labels"]), np.int64).copy(),
                _text_array(archive[f"{name}.subjects"]),
                _text_array(archive[f"{name}.paths"]),
                tuple(entry["classes"]),
                entry["meta"],
            )
        if index["backgrounds"] is not None:
            entry = index["backgrounds"]
            images = decode_images(archive["backgrounds"], tuple(entry["shape"]))
            pack.backgrounds = _checked(images, entry["sha256"], "backgrounds", path)
    return pack


def resize_prepared(prepared: PreparedFaces, size: int) -> PreparedFaces:
    """Pre-cropped faces (ellipse masks) at another side, as `prepare_faces(size=...)` makes them.

    A pack stores sets like FER2013 and CK+48 at their native 48 px, where preparing is the
    identity; warping those pixels gives exactly the crops preparing at `size` would give.
    """
    side = prepared.faces.shape[-1]
    if side == size:
        return prepared
    if not (prepared.masks == ellipse_mask(side)).all():
        raise ValueError(
            "only pre-cropped faces (ellipse masks) can be resized; prepare landmark-aligned "
            f"sets at {size} px instead"
        )
    matrix = image_transform((side, side), size)
    faces = np.stack([[warp(plane, matrix, size) for plane in face] for face in prepared.faces])
    masks = np.broadcast_to(ellipse_mask(size), (len(prepared), size, size)).copy()
    meta = {**prepared.meta, "size": size}
    return PreparedFaces(
        faces,
        masks,
        prepared.labels,
        prepared.subjects,
        prepared.paths,
        prepared.classes,
        meta,
    )
