"""`feratt predict` through `feratt.cli.main`: folders, globs, tables, pictures, bad files."""

from __future__ import annotations

import csv
import json
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from model_reference import assert_rows_match
from skimage import data

from feratt.cli import main
from feratt.data.io import MAX_IMAGE_PIXELS


def test_fer2013_crops_without_detection_give_one_row_per_file(
    checkpoint, fer_crops, crop_probabilities, classes, tmp_path
):
    inputs = [str(p) for p in fer_crops]
    out = tmp_path / "json"
    assert main(["predict", *inputs, "-c", str(checkpoint), "--no-detect", "--out", str(out)]) == 0
    rows = json.loads((out / "predictions.json").read_text())
    assert [row["path"] for row in rows] == inputs
    assert all((row["x"], row["y"], row["w"], row["h"]) == (0, 0, 48, 48) for row in rows)
    assert all(len(row["embedding"]) == 64 for row in rows)
    assert_rows_match(rows, crop_probabilities, classes)
    assert (out / f"{fer_crops[0].stem}_annotated.png").is_file()
    panel = cv2.imread(str(out / f"{fer_crops[0].stem}_face0_attention.png"))
    assert panel.shape[1] == 3 * (panel.shape[0] - 28)  # three square tiles under a caption


def test_folders_and_globs_to_csv(checkpoint, fer_crops, crop_probabilities, classes, tmp_path):
    folder, nested = tmp_path / "crops", tmp_path / "more" / "deep"
    nested.mkdir(parents=True)
    folder.mkdir()
    for index, crop in enumerate(fer_crops):
        target = folder if index < 3 else nested
        (target / crop.name).write_bytes(crop.read_bytes())
    out = tmp_path / "csv"
    argv = ["predict", str(folder), str(tmp_path / "more" / "**" / "*.jpg"), "-c", str(checkpoint)]
    options = [
        "--no-detect",
        "--out",
        str(out),
        "--format",
        "csv",
        "--no-images",
        "--backend",
        "onnx",
    ]
    assert main([*argv, *options]) == 0
    with open(out / "predictions.csv") as handle:
        table = list(csv.DictReader(handle))
    names = [crop.name for crop in fer_crops]
    assert sorted(row["path"].rsplit("/", 1)[1] for row in table) == sorted(names)
    order = [names.index(row["path"].rsplit("/", 1)[1]) for row in table]
    assert_rows_match(table, crop_probabilities[order], classes, atol=1e-5)  # ONNX Runtime
    assert list(out.glob("*.png")) == []


def test_without_out_the_table_goes_to_stdout(
    checkpoint, fer_crops, crop_probabilities, classes, capsys
):
    assert main(["predict", str(fer_crops[0]), "-c", str(checkpoint), "--no-detect"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert len(rows) == 1 and rows[0]["path"] == str(fer_crops[0])
    assert_rows_match(rows, crop_probabilities[:1], classes)
    assert "1 file(s), 1 face(s), 0 skipped" in captured.err


def test_bad_files_are_reported_and_skipped(checkpoint, recognizer, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    good = folder / "astronaut.jpg"
    cv2.imwrite(str(good), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    (folder / "truncated.jpg").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (folder / "notes.jpg").write_text("these are not pixels")
    cv2.imwrite(str(folder / "coffee.png"), data.coffee())
    (folder / "readme.txt").write_text("ignored: not an image extension")
    out = tmp_path / "out"
    argv = ["predict", str(folder), "-c", str(checkpoint), "--out", str(out)]

    assert main(argv) == 1  # every file processed, but the failures show in the exit status
    err = capsys.readouterr().err
    assert "truncated.jpg" in err and "notes.jpg" in err
    assert "coffee.png: no face found" in err
    assert "readme.txt" not in err
    rows = json.loads((out / "predictions.json").read_text())
    assert [row["path"] for row in rows] == [str(good)]
    (expected,) = recognizer.predict(good)
    assert {key: rows[0][key] for key in expected.table_row()} == pytest.approx(
        expected.table_row(), abs=2e-6
    )
    assert (out / "coffee_annotated.png").is_file()

    assert main([*argv, "--skip-errors"]) == 0


def test_missing_checkpoint_and_inputs_are_clear_errors(checkpoint, tmp_path, capsys):
    assert main(["predict", "x.jpg", "-c", str(tmp_path / "none.pt")]) == 1
    assert "none.pt does not exist" in capsys.readouterr().err
    assert main(["predict", "-c", str(checkpoint)]) == 1
    assert "PATHs or --webcam" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "nothing*.jpg"), "-c", str(checkpoint)]) == 1
    assert "nothing*.jpg: no such file" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "value"), [("--batch-size", "-3"), ("--threads", "-1")])
def test_non_positive_batch_size_and_threads_are_refused(
    checkpoint, fer_crops, tmp_path, capsys, flag, value
):
    out = tmp_path / "out"
    argv = ["predict", str(fer_crops[0]), "-c", str(checkpoint), "--out", str(out), flag, value]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: must be a positive whole number; got '{value}'" in err
    assert "Traceback" not in err and not out.exists()


def _png_bomb(path, side: int) -> None:
    """A real, valid grey PNG of side x side zero pixels, written without holding them: a
    20000-pixel side is 400 megapixels in about 390 KB."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    compressor, row, parts = zlib.compressobj(9), bytes(side + 1), []
    for _ in range(0, side, 500):
        parts.append(compressor.compress(row * 500))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def test_an_image_past_the_pixel_limit_is_refused_from_its_header(
    checkpoint, fer_crops, tmp_path, file_size_limited
):
    """A 390 KB PNG of 20000x20000 pixels is refused, named with the limit, before decoding
    (the process stays far below the 1.2 GB its pixels would take); the other files are done."""
    bomb = tmp_path / "a_bomb.png"
    _png_bomb(bomb, 20000)
    assert bomb.stat().st_size < 500_000
    out = tmp_path / "out"
    code = (
        "import resource, sys, torch; torch.set_num_threads(1); from feratt.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024); "
        "sys.exit(status)"
    )
    argv = ["predict", str(bomb), str(fer_crops[0]), "-c", str(checkpoint), "--no-detect"]
    run = file_size_limited([sys.executable, "-c", code, *argv, "--out", str(out)], 2**40)
    assert run.returncode == 1, run.stderr[-2000:]
    assert (
        f"skipped {bomb}: image file {bomb} has over 178,956,970 pixels, over the limit of "
        "50,000,000"
    ) in run.stderr
    assert "1 file(s), 1 face(s), 1 skipped" in run.stderr
    assert int(run.stdout.split()[-1]) < 1_000_000_000
    rows = json.loads((out / "predictions.json").read_text())
    assert [row["path"] for row in rows] == [str(fer_crops[0])]


def test_max_pixels_sets_the_limit(checkpoint, fer_crops, tmp_path, capsys):
    argv = ["predict", *map(str, fer_crops[:2]), "-c", str(checkpoint), "--no-detect"]
    assert main([*argv, "--max-pixels", "2304"]) == 0  # 48x48 crops: at the limit
    assert "2 file(s), 2 face(s), 0 skipped" in capsys.readouterr().err
    assert main([*argv, "--max-pixels", "2303"]) == 1
    err = capsys.readouterr().err
    assert f"image file {fer_crops[1]} has 2,304 pixels (48x48), over the limit of 2,303" in err
    assert "0 file(s), 0 face(s), 2 skipped" in err
    assert MAX_IMAGE_PIXELS == 50_000_000  # the number --help quotes


def test_a_full_disk_keeps_the_rows_already_done(
    checkpoint, fer_crops, tmp_path, file_size_limited
):
    """When writing the pictures of the fourth image fails (RLIMIT_FSIZE: EFBIG, as a full disk),
    the run stops with a one-line error and predictions.json holds the rows done before."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, crop in enumerate(fer_crops[:3]):
        (folder / f"{index}_{crop.name}").write_bytes(crop.read_bytes())
    noise = np.random.default_rng(0).integers(0, 256, (600, 600, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / "3_noise.png"), noise)  # its annotated copy passes the limit
    (folder / "4_after.jpg").write_bytes(fer_crops[3].read_bytes())
    out = tmp_path / "out"
    command = ["feratt", "predict", str(folder), "-c", str(checkpoint), "--no-detect"]
    run = file_size_limited([*command, "--out", str(out)], 200_000)
    assert run.returncode == 1, run.stderr[-2000:]
    assert run.stderr.strip().splitlines()[-1] == (
        f"feratt predict: error: could not write {out / '3_noise_annotated.png'}"
    )
    rows = json.loads((out / "predictions.json").read_text())
    assert [Path(row["path"]).name[0] for row in rows] == ["0", "1", "2", "3"]
    assert not list(out.glob(".*.tmp"))


def test_a_batch_holds_a_bounded_number_of_decoded_pixels(
    checkpoint, fer_crops, tmp_path, monkeypatch
):
    """Batches close at BATCH_PIXELS decoded pixels, not only at --batch-size images."""
    from feratt.inference import files
    from feratt.inference.recognizer import Recognizer

    sizes = []
    predict_batch = Recognizer.predict_batch

    def recorded(self, images, detect=True):
        sizes.append(sum(image.shape[0] * image.shape[1] for image in images))
        return predict_batch(self, images, detect)

    monkeypatch.setattr(Recognizer, "predict_batch", recorded)
    monkeypatch.setattr(files, "BATCH_PIXELS", 2 * 48 * 48)
    argv = ["predict", *map(str, fer_crops[:5]), "-c", str(checkpoint), "--no-detect"]
    assert main([*argv, "--out", str(tmp_path / "out"), "--no-images"]) == 0
    assert sizes == [2 * 2304, 2 * 2304, 2304]
    assert len(json.loads((tmp_path / "out" / "predictions.json").read_text())) == 5
