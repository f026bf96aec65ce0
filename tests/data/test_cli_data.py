"""`feratt data info|prepare` through feratt.cli.main."""

from __future__ import annotations

import json
import os
import re
import struct
import zlib

import cv2
import numpy as np
import pytest
from native_layouts import write_ckplus, write_folder

from feratt.cli import main
from feratt.cli.data import SKIP_HINT


def test_info_prints_format_classes_subjects(tmp_path, face_pixels, capsys):
    root = write_ckplus(tmp_path / "CK+", face_pixels)
    assert main(["data", "info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "format: ckplus" in out and "faces: 12" in out
    assert "contempt   3" in out and "subjects: 3 (faces per subject: min 4" in out
    assert "left out by the protocol: 1 (unlabelled sequences)" in out


def test_info_skip_corrupt_lists_files(tmp_path, face_pixels, capsys):
    root = write_folder(tmp_path / "set", face_pixels)
    (root / "neutral" / "bad.png").write_bytes(b"\x89PNG broken")
    assert main(["data", "info", str(root), "--skip-corrupt", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "verified: 6 of 7 faces decode" in out
    assert "skipped 1 file(s):" in out and "bad.png" in out


def test_prepare_writes_cache_and_preview(tmp_path, face_pixels, capsys):
    root = write_folder(tmp_path / "set", face_pixels)
    out_dir = tmp_path / "prepared"
    assert main(["data", "prepare", str(root), "--out", str(out_dir), "--size", "32"]) == 0
    assert "wrote 6 faces of 32x32" in capsys.readouterr().out
    previews = list(out_dir.glob("preview-*.png"))
    assert len(previews) == 1 and cv2.imread(str(previews[0])).shape == (96, 6 * 32, 3)
    assert main(["data", "prepare", str(root), "--out", str(out_dir), "--size", "32"]) == 0
    assert "reused 6 faces" in capsys.readouterr().out


def test_errors_are_reported(tmp_path, capsys):
    assert main(["data", "info", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("feratt data: error: ") and "matches no known data set layout" in err


@pytest.fixture
def folder_with_non_files(tmp_path, face_pixels):
    """Six good faces plus five image names that are no image file."""
    root = write_folder(tmp_path / "set", face_pixels)
    neutral = root / "neutral"
    (neutral / "loop_a.png").symlink_to(neutral / "loop_b.png")
    (neutral / "loop_b.png").symlink_to(neutral / "loop_a.png")
    (neutral / "dangling.png").symlink_to(tmp_path / "moved-away.png")
    (neutral / "folder.png").mkdir()
    os.mkfifo(neutral / "pipe.png")  # open() of a FIFO blocks: the probe must not open it
    return root


def test_info_does_not_count_what_is_no_image_file(folder_with_non_files, capsys):
    root = folder_with_non_files
    assert main(["data", "info", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.match(
        r"feratt data: error: \S+/neutral/(dangling|folder|loop_a|loop_b|pipe)\.png", err
    )
    assert err.endswith(f"({SKIP_HINT})\n")

    assert main(["data", "info", str(root), "--skip-corrupt"]) == 0
    out = capsys.readouterr().out
    assert "faces: 6\n" in out and "neutral    2\n" in out
    assert "skipped 5 file(s):" in out
    for name, reason in [
        ("loop_a", "Too many levels of symbolic links"),
        ("loop_b", "Too many levels of symbolic links"),
        ("dangling", "No such file or directory"),
        ("folder", "not a regular file"),
        ("pipe", "not a regular file"),
    ]:
        assert f"{root / 'neutral' / name}.png: {reason}\n" in out


def test_verify_and_prepare_suggest_skip_corrupt(tmp_path, face_pixels, capsys):
    root = write_folder(tmp_path / "set", face_pixels)
    good = (root / "happiness" / "img0.jpg").read_bytes()
    (root / "happiness" / "cut.jpg").write_bytes(good[: len(good) // 2])
    for argv in (["info", "--verify"], ["prepare", "--out", str(tmp_path / "cache")]):
        assert main(["data", argv[0], str(root), *argv[1:]]) == 1
        err = capsys.readouterr().err
        assert err == (
            f"feratt data: error: image file {root / 'happiness' / 'cut.jpg'} is corrupt: "
            f"truncated JPEG (no end-of-image marker after the last scan) ({SKIP_HINT})\n"
        )
        assert main(["data", argv[0], str(root), *argv[1:], "--skip-corrupt"]) == 0
        assert "cut.jpg" in capsys.readouterr().out


def test_info_refuses_a_header_over_the_pixel_limit(tmp_path, face_pixels, capsys):
    """A 100-byte PNG whose header claims 10000x8000 pixels is no face, found without decoding."""
    root = write_folder(tmp_path / "set", face_pixels)
    ihdr = struct.pack(">IIBBBBB", 10_000, 8_000, 8, 2, 0, 0, 0)
    chunks = [(b"IHDR", ihdr), (b"IDAT", zlib.compress(bytes(64))), (b"IEND", b"")]
    png = b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        for kind, body in chunks
    )
    (root / "neutral" / "huge.png").write_bytes(png)
    assert main(["data", "info", str(root)]) == 1
    message = "has 80,000,000 pixels (10000x8000), over the limit of 50,000,000"
    assert capsys.readouterr().err == (
        f"feratt data: error: {root / 'neutral' / 'huge.png'}: {message} ({SKIP_HINT})\n"
    )
    assert main(["data", "info", str(root), "--skip-corrupt"]) == 0
    out = capsys.readouterr().out
    assert "faces: 6\n" in out and f"huge.png: {message}" in out


def test_check_finds_exact_and_near_duplicates_across_classes_and_splits(
    tmp_path, ckplus48_dir, capsys
):
    """Real CK+48 faces (the three peak frames of three sequences) in train/test class folders,
    with planted copies: an exact copy under another class, a relit JPEG in the other split."""
    root = tmp_path / "set"
    sources = sorted(ckplus48_dir.glob("happy/S0*.png"))[:9]
    for split in ("train", "test"):
        for name in ("happy", "sad"):
            (root / split / name).mkdir(parents=True)
    for source in sources[:6]:
        (root / "train" / "happy" / source.name).write_bytes(source.read_bytes())
    for source in sources[6:]:
        (root / "test" / "happy" / source.name).write_bytes(source.read_bytes())
    planted = sources[0]
    (root / "train" / "sad" / f"copy_{planted.name}").write_bytes(planted.read_bytes())
    relit = np.clip(cv2.imread(str(planted), cv2.IMREAD_GRAYSCALE) * 0.8 + 30, 0, 255)
    cv2.imwrite(str(root / "test" / "sad" / "relit.jpg"), relit.astype(np.uint8))
    report = tmp_path / "report.json"
    assert main(["data", "check", str(root), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "faces: 11\nexact duplicates: 1 groups\n" in out
    assert "exact duplicate pairs: 1 (different classes 1, same split 1)" in out
    pairs = json.loads(report.read_text())["pairs"]
    assert pairs["exact"]["all"] == 1
    # The relit copy is near its source and the exact copy (other class, split); the three
    # peak frames of each sequence are near one another (same class, split).
    assert pairs["near"]["different splits"] == 2 and pairs["near"]["different classes"] == 1
    assert f"copy_{planted.name}" in out and "relit.jpg" in out


def test_check_counts_pairs_across_subjects(tmp_path, ckplus48_dir, capsys):
    """CK+48 names its subjects: a face filed again under another subject is a cross-subject pair
    (which subject-independent folds would put on both sides)."""
    root = tmp_path / "ckplus48"
    for name in ("happy", "surprise"):
        (root / name).mkdir(parents=True)
        for source in sorted((ckplus48_dir / name).glob("*.png"))[:3]:
            (root / name / source.name).write_bytes(source.read_bytes())
    copied = sorted((root / "happy").glob("*.png"))[0]
    (root / "surprise" / "S999_001_00000001.png").write_bytes(copied.read_bytes())
    assert main(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    assert "exact duplicate pairs: 1 (different classes 1, different subjects 1)" in out
    assert "near-duplicate pairs (pHash within 8 of 64 bits, pixel correlation >= 0.99)" in out
