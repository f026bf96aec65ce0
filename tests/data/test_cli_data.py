"""`feratt data info|prepare` through feratt.cli.main."""

from __future__ import annotations

import os
import re
import struct
import zlib

import cv2
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
