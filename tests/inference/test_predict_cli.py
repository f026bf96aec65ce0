"""`feratt predict` through `feratt.cli.main`: folders, globs, tables, pictures, bad files."""

from __future__ import annotations

import csv
import json

import cv2
import pytest
from model_reference import assert_rows_match
from skimage import data

from feratt.cli import main


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
