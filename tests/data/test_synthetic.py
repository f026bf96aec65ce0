"""Seeded synthetic sets over the compositor, their files on disk, and `feratt synth`."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from feratt.cli import main
from feratt.data import open_dataset
from feratt.data.compositing import load_backgrounds
from feratt.data.preparation import prepare_faces
from feratt.data.records import PreparedFaces
from feratt.data.synthetic import (
    backgrounds_for,
    build_synthetic_set,
    save_synthetic_set,
)

SIZE = 64


def _prepared(n: int = 10, channels: int = 1) -> PreparedFaces:
    rng = np.random.default_rng(0)
    faces = rng.integers(30, 220, (n, channels, SIZE, SIZE), dtype=np.uint8)
    y, x = np.mgrid[:SIZE, :SIZE]
    mask = ((x - 31.5) / 26) ** 2 + ((y - 32) / 30) ** 2 <= 1
    return PreparedFaces(
        faces=faces,
        masks=np.broadcast_to(mask, (n, SIZE, SIZE)).copy(),
        labels=np.arange(n, dtype=np.int64) % 3,
        subjects=np.array([f"S{i // 2}" for i in range(n)]),
        paths=np.array([f"face{i}.png" for i in range(n)]),
        classes=("happy", "sad", "anger"),
    )


def _pool(n: int = 10) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 80, 80), generator=torch.Generator().manual_seed(0)).byte()


def test_build_synthetic_set_is_seeded_and_ordered():
    faces = _prepared()
    first = build_synthetic_set(faces, _pool(), seed=1, copies=2, batch_size=8)
    again = build_synthetic_set(faces, _pool(), seed=1, copies=2, batch_size=8)
    other = build_synthetic_set(faces, _pool(), seed=2, copies=2, batch_size=8)
    assert len(first) == 20 and first.image.shape == (20, 3, SIZE, SIZE)
    assert torch.equal(first.label, torch.from_numpy(faces.labels).repeat(2))
    for name in ("image", "clean", "mask", "theta"):
        assert torch.equal(getattr(first, name), getattr(again, name))
    assert not torch.equal(first.image, other.image)
    with pytest.raises(ValueError, match="copies"):
        build_synthetic_set(faces, _pool(), copies=0)


def test_test_mode_uses_the_wider_ranges():
    faces = _prepared(40)
    train = build_synthetic_set(faces, _pool(), mode="train")
    test = build_synthetic_set(faces, _pool(), mode="test")
    # theta's translation column reflects the drawn shifts: wider for the test settings.
    assert test.theta[:, :, 2].abs().max() > train.theta[:, :, 2].abs().max()


def test_save_synthetic_set_writes_files(tmp_path):
    faces = _prepared(6)
    batch = build_synthetic_set(faces, _pool())
    save_synthetic_set(batch, tmp_path, faces.classes, sources=list(faces.paths))
    for folder in ("images", "clean", "masks"):
        assert len(list((tmp_path / folder).glob("*.png"))) == 6
    mask = cv2.imread(str(tmp_path / "masks" / "000000.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (SIZE, SIZE) and set(np.unique(mask)) <= {0, 255}
    with open(tmp_path / "labels.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["class"] for r in rows] == [faces.classes[i] for i in faces.labels]
    assert rows[3]["source"] == "face3.png" and rows[3]["file"] == "000003.png"
    assert cv2.imread(str(tmp_path / "preview.png")).std() > 10


def test_cli_synth_on_real_data(ckplus48_dir, backgrounds_dir, tmp_path, capsys):
    out = tmp_path / "synth"
    argv = ["synth", "--data", str(ckplus48_dir), "--backgrounds", str(backgrounds_dir)]
    assert main([*argv, "--out", str(out), "--count", "8", "--seed", "3"]) == 0
    assert "wrote 8 test composites" in capsys.readouterr().out
    with open(out / "labels.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 and all(r["source"].endswith(".png") for r in rows)
    assert len(list((out / "images").glob("*.png"))) == 8
    preview = cv2.imread(str(out / "preview.png"))
    assert preview is not None and preview.std() > 30


def test_cli_synth_train_mode_uses_train_ranges_and_backgrounds(
    ckplus48_dir: Path, backgrounds_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`feratt synth --mode train` writes exactly the train-mode composites of its faces (the
    sources in labels.csv) on the training role of the background pool."""
    faces_dir, pool_dir = tmp_path / "faces", tmp_path / "pool"
    for image in sorted(ckplus48_dir.glob("*/*.png"))[::70]:  # 15 faces, every class
        (faces_dir / image.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(image, faces_dir / image.parent.name / image.name)
    pool_dir.mkdir()
    for image in sorted(backgrounds_dir.glob("*.png"))[:10]:
        shutil.copy(image, pool_dir / image.name)
    out = tmp_path / "synth"
    argv = ["synth", "--data", str(faces_dir), "--backgrounds", str(pool_dir), "--out", str(out)]
    assert main([*argv, "--count", "6", "--seed", "3", "--mode", "train"]) == 0
    assert "wrote 6 train composites of 64x64 from 15 faces and 7 train backgrounds" in (
        capsys.readouterr().out
    )

    with open(out / "labels.csv") as handle:
        rows = list(csv.DictReader(handle))
    faces = prepare_faces(open_dataset(faces_dir))
    chosen = faces.subset(np.array([list(faces.paths).index(row["source"]) for row in rows]))
    assert [row["class"] for row in rows] == [faces.classes[i] for i in chosen.labels]
    written = np.stack([cv2.imread(str(out / "images" / row["file"]))[..., ::-1] for row in rows])
    pool = load_backgrounds(pool_dir)
    for mode, role in (("train", "train"), ("test", "train"), ("train", "test")):
        batch = build_synthetic_set(chosen, backgrounds_for(pool, role), seed=3, mode=mode)
        pixels = (batch.image * 255).round().byte().permute(0, 2, 3, 1).numpy()
        same = np.array_equal(written, pixels)
        assert same == (mode == role == "train"), (mode, role)


def test_cli_synth_errors(ckplus48_dir, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["synth", "--data", str(ckplus48_dir), "--out", str(tmp_path / "o"), "--count", "2"]
    assert main([*argv, "--backgrounds", str(empty)]) == 1
    assert f"background folder {empty} holds no readable image" in capsys.readouterr().err
    assert main([*argv, "--backgrounds", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err
