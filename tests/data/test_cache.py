"""The prepared-face cache: hits, and invalidation when the source or the settings change."""

from __future__ import annotations

import os
import re

import numpy as np
from native_layouts import write_jaffe, write_rafdb

from feratt.data import open_dataset
from feratt.data.cache import prepare_cached
from feratt.data.preparation import prepare_faces


def entries(cache_dir):
    return sorted(p.name for p in cache_dir.iterdir() if not p.name.startswith("."))


def test_cache_hit_equals_fresh_preparation(tmp_path, face_pixels):
    root = write_jaffe(tmp_path / "jaffe", face_pixels)
    cache_dir = tmp_path / "cache"
    first = prepare_cached(open_dataset(root), cache_dir, size=32)
    second = prepare_cached(open_dataset(root), cache_dir, size=32)
    assert not first.meta["cache_hit"] and second.meta["cache_hit"]
    assert first.meta["cache_path"] == second.meta["cache_path"]
    fresh = prepare_faces(open_dataset(root), size=32)
    for name in ("faces", "masks", "labels", "subjects", "paths"):
        assert np.array_equal(getattr(second, name), getattr(fresh, name))
    assert second.classes == fresh.classes
    assert isinstance(second.faces, np.memmap) and second.faces.flags.writeable
    second.faces[0] = 0  # copy-on-write: the cache file keeps its pixels
    loaded = prepare_cached(open_dataset(root), cache_dir, size=32, mmap=False)
    assert not isinstance(loaded.faces, np.memmap) and np.array_equal(loaded.faces, fresh.faces)
    assert {f.name for f in (cache_dir / entries(cache_dir)[0]).iterdir()} == {
        "faces.npy", "masks.npy", "labels.npy", "subjects.npy", "paths.npy", "index.json"
    }  # fmt: skip


def test_cache_invalidated_by_source_and_settings(tmp_path, face_pixels):
    root = write_jaffe(tmp_path / "jaffe", face_pixels)
    cache_dir = tmp_path / "cache"
    prepare_cached(open_dataset(root), cache_dir, size=32)
    bigger = prepare_cached(open_dataset(root), cache_dir, size=48)
    assert not bigger.meta["cache_hit"] and len(entries(cache_dir)) == 2  # both settings kept
    image = root / "KA.AN1.39.tiff"
    stat = image.stat()
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    changed = prepare_cached(open_dataset(root), cache_dir, size=32)
    assert not changed.meta["cache_hit"]
    assert len(entries(cache_dir)) == 2  # the stale size-32 entry was replaced
    (root / "NA.FE3.86.tiff").unlink()
    fewer = prepare_cached(open_dataset(root), cache_dir, size=32)
    assert not fewer.meta["cache_hit"] and len(fewer) == 4


def test_split_selections_of_one_folder_are_cached_side_by_side(tmp_path, face_pixels):
    root = write_rafdb(tmp_path / "rafdb", face_pixels)
    cache_dir = tmp_path / "cache"
    train = prepare_cached(open_dataset(root, split="train"), cache_dir, size=32)
    prepare_cached(open_dataset(root, split="test"), cache_dir, size=32)
    assert len(entries(cache_dir)) == 2  # preparing "test" must not evict "train"
    again = prepare_cached(open_dataset(root, split="train"), cache_dir, size=32)
    assert again.meta["cache_hit"] and len(again) == len(train)


def test_a_full_disk_leaves_no_partial_cache_entry(tmp_path, ckplus48_dir, file_size_limited):
    """An entry whose arrays cannot all be written (RLIMIT_FSIZE: EFBIG, as a full disk) never
    appears: its temporary folder is removed, and the next run prepares the faces again."""
    cache_dir = tmp_path / "cache"
    command = ["feratt", "data", "prepare", str(ckplus48_dir), "--out", str(cache_dir)]
    run = file_size_limited(command, 100_000)  # masks.npy fits, faces.npy (3.9 MB) does not
    assert run.returncode == 1, run.stderr[-2000:]
    (error,) = run.stderr.splitlines()
    assert re.fullmatch(r"feratt data: error: \S+/faces\.npy: write cut short, is the disk "
                        r"full\? \(\d+ requested and \d+ written\)", error)  # fmt: skip
    assert list(cache_dir.iterdir()) == []
    prepared = prepare_cached(open_dataset(ckplus48_dir), cache_dir, size=64)
    assert not prepared.meta["cache_hit"] and len(entries(cache_dir)) == 1
