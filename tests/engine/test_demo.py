"""`feratt demo`: identity splits, run configs, the loss-curve plot, a quick end-to-end run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from feratt.cli import main
from feratt.config import ExperimentConfig
from feratt.data.procedural import render_faces
from feratt.engine.demo import DemoSettings, experiment, split_by_identity
from feratt.engine.plots import plot_curves


def test_split_by_identity_keeps_people_apart():
    faces = render_faces(8, classes=("neutral", "happy"), size=32, n_identities=16)
    train, val, test = split_by_identity(faces, test_fraction=0.25, val_fraction=0.125, seed=0)
    assert len(train) + len(val) + len(test) == len(faces)
    people = [set(part.subjects) for part in (train, val, test)]
    assert not (people[0] & people[1]) and not (people[0] & people[2])
    assert not (people[1] & people[2])
    assert len(test) == 4 and len(val) == 2  # whole people (one image each here)


def test_experiment_is_a_valid_cpu_sized_config(tmp_path: Path):
    settings = DemoSettings(out_dir=tmp_path, width=0.25, epochs=2, steps_per_epoch=3)
    config = experiment(settings, "feratt_rep_cls", num_classes=7)
    assert ExperimentConfig.from_dict(config.to_dict()) == config
    assert (config.model.name, config.model.num_classes, config.model.width) == (
        "feratt_rep_cls",
        7,
        0.25,
    )
    assert (config.train.max_epochs, config.data.steps_per_epoch) == (2, 3)
    assert config.train.logger == "none" and not config.train.resume
    assert config.run_dir == tmp_path / "runs" / "feratt_rep_cls"


def test_plot_curves_reads_lightning_csv_logs(tmp_path: Path):
    log = tmp_path / "run" / "csv" / "version_0" / "metrics.csv"
    log.parent.mkdir(parents=True)
    with log.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "step", "train/loss_step", "train/cls_step", "val/acc"])
        writer.writerow([0, 4, 2.0, 1.9, ""])
        writer.writerow([0, 9, 1.5, 1.4, ""])
        writer.writerow([0, 9, "", "", 0.4])
    path = plot_curves({"feratt_rep_cls": tmp_path / "run"}, tmp_path / "curves.png")
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"


def test_demo_rejects_bad_epochs(tmp_path: Path, capsys: pytest.CaptureFixture):
    assert main(["demo", "--quick", "--epochs", "0", "--out", str(tmp_path)]) == 1
    assert "--epochs must be at least 1" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| PreActResNet18 |" in printed and "| FERAtt+Rep+Cls |" in printed
    for name in ("report.md", "results.md", "results.csv", "loss_curves.png", "samples.png"):
        assert (out / name).is_file(), name
    table = (out / "results.md").read_text()
    assert "FERAtt+Rep+Cls (k-NN)" in table
    for model in ("preactresnet18", "feratt_rep_cls"):
        for test in ("real", "synthetic"):
            record = json.loads((out / "eval" / model / f"{test}.json").read_text())
            assert record["model"] == model and record["test"] == test
            assert record["num_samples"] > 0
            assert 0.0 <= record["cls"]["accuracy"] <= 1.0
        assert (out / "runs" / model / "model-last.pt").is_file()
    assert (out / "eval" / "feratt_rep_cls" / "synthetic_attention.png").is_file()
    report = (out / "report.md").read_text()
    assert "![curves](loss_curves.png)" in report and table.splitlines()[0] in report
    assert np.isfinite(float(next(csv.DictReader((out / "results.csv").open()))["mean"]))
