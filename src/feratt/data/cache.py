"""On-disk cache of prepared faces, so an epoch never decodes images again.

An entry is a folder of uncompressed ``.npy`` arrays (memory-mappable) plus ``index.json``,
named after a hash of the source (records, file sizes and mtimes) and of the preparation
settings; a change to either gives a new key, and the stale entry for the same source and
settings is removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from feratt.data.datasets import FaceDataset
from feratt.data.preparation import PREPARE_VERSION, FaceDetector, HaarFaceDetector, prepare_faces
from feratt.data.records import PreparedFaces
from feratt.fileio import atomic_folder

ARRAYS = ("faces", "masks", "labels", "subjects", "paths")
OPTIONAL_ARRAYS = ("soft_labels",)
INDEX = "index.json"


def _hash(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def load_cache_entry(folder: str | Path, mmap: bool = True) -> PreparedFaces:
    """Read one cache entry.

    With `mmap` the faces and masks are copy-on-write memory maps: pages are read on first
    touch and writes stay in memory (the cache files never change); otherwise they are loaded.
    """
    folder = Path(folder)
    index = json.loads((folder / INDEX).read_text())
    mapped = {"faces", "masks"} if mmap else set()
    arrays = {
        name: np.load(folder / f"{name}.npy", mmap_mode="c" if name in mapped else None)
        for name in ARRAYS
    }
    for name in OPTIONAL_ARRAYS:
        if (folder / f"{name}.npy").is_file():
            arrays[name] = np.load(folder / f"{name}.npy")
    meta = {**index["meta"], "cache_path": str(folder)}
    return PreparedFaces(**arrays, classes=tuple(index["classes"]), meta=meta)


def _save_array(path: Path, array: np.ndarray) -> None:
    try:
        np.save(path, array, allow_pickle=False)
    except OSError as err:  # numpy's "N requested and M written" names neither file nor cause
        if err.filename is not None:
            raise
        reason = err.strerror or f"write cut short, is the disk full? ({err})"
        raise OSError(err.errno, reason, str(path)) from err


def _write_entry(folder: Path, prepared: PreparedFaces, index: dict) -> None:
    """Write arrays and index into a temporary sibling, then rename it into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_folder(folder) as tmp:
            for name in (*ARRAYS, *OPTIONAL_ARRAYS):
                array = getattr(prepared, name)
                if array is not None:
                    _save_array(tmp / f"{name}.npy", np.asarray(array))
            (tmp / INDEX).write_text(json.dumps(index, indent=1))
    except OSError:
        if not (folder / INDEX).is_file():  # else another process wrote the same entry first
            raise


def _remove_stale(cache_dir: Path, keep: Path, source_id: str, settings_key: str) -> None:
    """Delete entries prepared from the same data set with the same settings but older files."""
    for index_file in cache_dir.glob(f"*/{INDEX}"):
        entry = index_file.parent
        if entry == keep:
            continue
        try:
            index = json.loads(index_file.read_text())
        except (OSError, ValueError):
            continue
        if index.get("source_id") == source_id and index.get("settings_key") == settings_key:
            shutil.rmtree(entry, ignore_errors=True)


def prepare_cached(
    dataset: FaceDataset,
    cache_dir: str | Path,
    size: int = 64,
    channels: int = 1,
    detect: bool = False,
    detector: FaceDetector | None = None,
    margin: float = 0.2,
    workers: int | None = None,
    mmap: bool = True,
) -> PreparedFaces:
    """`prepare_faces` through a disk cache in `cache_dir` (see the module docstring).

    ``meta["cache_hit"]`` says whether the arrays came from the cache, ``meta["cache_path"]``
    where they live. A cache hit returns copy-on-write memory maps of faces and masks unless
    `mmap` is False (see `load_cache_entry`).
    """
    if detect and detector is None:
        detector = HaarFaceDetector()
    settings = {
        "size": size,
        "channels": channels,
        "detect": bool(detect),
        "detector": repr(detector) if detect else None,
        "margin": margin,
        "version": PREPARE_VERSION,
    }
    source = dataset.fingerprint()
    # Identifies the data set and its selected splits independently of file contents, to find
    # stale entries (the train and val selections of one folder are different sources).
    splits = sorted({str(r.split) for r in dataset.records})
    source_id = _hash([dataset.format_name, os.path.abspath(dataset.root), dataset.classes, splits])
    settings_key = _hash(settings)
    key = _hash([source, settings_key])[:20]
    cache_dir = Path(cache_dir)
    folder = cache_dir / f"{dataset.format_name}-{key}"
    if (folder / INDEX).is_file():
        prepared = load_cache_entry(folder, mmap)
        prepared.meta["cache_hit"] = True
        return prepared
    prepared = prepare_faces(dataset, size, channels, detect, detector, margin, workers)
    index = {
        "source_id": source_id,
        "settings_key": settings_key,
        "source": source,
        "settings": settings,
        "classes": list(prepared.classes),
        "count": len(prepared),
        "meta": prepared.meta,
    }
    _write_entry(folder, prepared, index)
    _remove_stale(cache_dir, folder, source_id, settings_key)
    prepared.meta.update(cache_hit=False, cache_path=str(folder))
    return prepared
