"""Face packs: exact round trips on real CK+48 faces and backgrounds, integrity checks, resizing,
and the issue 7 GPU runner's smoke mode on a pack built from CK+48."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from feratt.data import open_dataset
from feratt.data.compositing import load_backgrounds
from feratt.data.pack import (
    decode_images,
    encode_images,
    load_pack,
    resize_prepared,
    save_pack,
)
from feratt.data.preparation import prepare_faces

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(scope="module")
def ckplus48(ckplus48_dir):
    """Every third CK+48 face (a few subjects' sequences), as the dataset and at 48 px."""
    dataset = open_dataset(ckplus48_dir).subset(np.arange(0, 981, 3))
    return dataset, prepare_faces(dataset, size=48)


@pytest.fixture(scope="module")
def backgrounds(backgrounds_dir, tmp_path_factory) -> np.ndarray:
    """Six real background photos (both sizes of the folder), as grey squares (B, 1, S, S)."""
    folder = tmp_path_factory.mktemp("backgrounds")
    for path in sorted(backgrounds_dir.iterdir())[::90]:
        shutil.copy(path, folder)
    return load_backgrounds(folder, channels=1).numpy()


def test_round_trip_is_exact_on_real_faces_and_backgrounds(ckplus48, backgrounds, tmp_path):
    _, faces = ckplus48
    path = save_pack(tmp_path / "pack.npz", backgrounds=backgrounds, ck=faces)
    pack = load_pack(path)
    loaded = pack.faces["ck"]
    for name in ("faces", "masks", "labels", "subjects", "paths"):
        original, copy = getattr(faces, name), getattr(loaded, name)
        assert copy.dtype.kind == original.dtype.kind and np.array_equal(copy, original), name
    assert loaded.classes == faces.classes and loaded.meta == json.loads(json.dumps(faces.meta))
    assert pack.backgrounds.shape == backgrounds.shape
    assert np.array_equal(pack.backgrounds, backgrounds)
    # Real faces compress losslessly to well under their raw size.
    assert path.stat().st_size < 0.85 * (faces.faces.nbytes + backgrounds.nbytes)


def test_codec_handles_extremes_colour_and_odd_shapes():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 3, 7, 11), dtype=np.uint8)
    images[0] = 255
    images[1, :, ::2] = 0  # hard edges: residuals wrap around modulo 256
    assert np.array_equal(decode_images(encode_images(images), images.shape), images)


def test_a_damaged_pack_fails_with_a_clear_error(ckplus48, tmp_path):
    _, faces = ckplus48
    path = save_pack(tmp_path / "pack.npz", ck=faces)
    with np.load(path) as archive:
        arrays = dict(archive)
    tampered = faces.faces.copy()
    tampered[0, 0, 0, 0] ^= 1
    arrays["ck.faces"] = encode_images(tampered)
    with (tmp_path / "bad.npz").open("wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(ValueError, match=r"bad\.npz: ck faces do not match their checksum"):
        load_pack(tmp_path / "bad.npz")
    (tmp_path / "text.npz").write_text("not a pack")
    with pytest.raises(ValueError, match=r"text\.npz: not a face pack"):
        load_pack(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_pack(tmp_path / "missing.npz")


def test_resize_prepared_equals_preparing_at_64(ckplus48):
    dataset, faces = ckplus48
    resized = resize_prepared(faces, 64)
    direct = prepare_faces(dataset, size=64)
    assert resized.faces.shape == (len(dataset), 1, 64, 64)
    assert np.array_equal(resized.faces, direct.faces)
    assert np.array_equal(resized.masks, direct.masks)
    assert resized.meta["size"] == 64


def test_resize_refuses_landmark_masks(ckplus48):
    _, faces = ckplus48
    hull = faces.subset(np.arange(4))
    hull.masks[:, :10] = False
    with pytest.raises(ValueError, match="ellipse masks"):
        resize_prepared(hull, 64)


@pytest.fixture
def runner(monkeypatch):
    """scripts/gpu_paper_runs.py as a module."""
    spec = importlib.util.spec_from_file_location("gpu_paper_runs", SCRIPTS / "gpu_paper_runs.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_runner_plans_equal_epochs_within_the_time_and_learns_from_a_fit(runner):
    planner = runner.Planner({"fast": 1000.0, "slow": 250.0}, efficiency=0.5, overhead_s=10.0)
    epochs = planner.epochs(["fast", "slow"], images_per_epoch=1000, seconds=100.0)
    # One epoch costs 2 s (fast) + 8 s (slow) at half the probed speed, plus 10 s per model.
    assert epochs == 8
    assert planner.seconds("fast", 1000, epochs) + planner.seconds("slow", 1000, epochs) <= 100
    planner.observe("fast", images=8000, fit_s=runner.FIT_SETUP_S + 10.0, eval_s=4.0)
    assert planner.efficiency == pytest.approx(0.8)
    assert planner.overhead_s == pytest.approx(runner.FIT_SETUP_S + 4.0)


@pytest.mark.slow
def test_gpu_runner_smoke_mode_writes_every_result(ckplus48, backgrounds, tmp_path, runner):
    """The issue 7 runner end to end (CPU, tiny models) on a pack built from CK+48 faces."""
    _, faces = ckplus48
    halves = np.arange(len(faces)) % 2 == 0
    pack = save_pack(
        tmp_path / "pack.npz",
        backgrounds=backgrounds[:, 0],
        fer2013_train=faces.subset(halves),
        fer2013_val=faces.subset(~halves),
        ckplus48=faces,
    )
    out = tmp_path / "out"
    argv = ["--smoke", "--pack", str(pack), "--out", str(out), "--work-dir", str(tmp_path / "w")]
    assert runner.main([*argv, "--fold-list", "3"]) == 0

    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["throughput"]) == set(runner.MODELS)
    assert all(rate > 0 for rate in summary["throughput"].values())
    fer = {(r["model"], r["test"]) for r in summary["fer2013"]["records"]}
    assert fer == {(m, t) for m in runner.MODELS for t in ("real", "synthetic")}
    assert summary["ckplus48"]["folds_done"] == [3]
    assert {r["fold"] for r in summary["ckplus48"]["records"]} == {3}
    assert "Folds done: [3] of 10" in (out / "summary.md").read_text()
    with tarfile.open(out / "results.tar.gz") as tar:
        names = set(tar.getnames())
    for kind in ("real", "synthetic"):
        assert f"results/fer2013/feratt_rep_cls/{kind}_attention.png" in names
        assert f"results/ckplus48/fold3/preactresnet18/{kind}_confusion_cls.png" in names
    assert "results/fer2013/feratt_cls/config.yaml" in names
    assert not list((tmp_path / "w").rglob("*.ckpt")) and not list(out.rglob("*.pt"))
