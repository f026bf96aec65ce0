"""`feratt data info|prepare` through feratt.cli.main."""

from __future__ import annotations

import cv2
from native_layouts import write_ckplus, write_folder

from feratt.cli import main


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
