"""`feratt demo`: identity splits, run configs, the loss-curve plot, a quick end-to-end run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from eval_reference import assert_record_of, assert_saved_embeddings

from feratt.checkpoint import load_checkpoint
from feratt.cli import main
from feratt.config import ExperimentConfig
from feratt.data.procedural import render_faces
from feratt.engine import plots, protocol
from feratt.engine.demo import DemoSettings, demo_datamodule, experiment, split_by_identity

# The quick demo's 42 faces (6 per class, 7 classes) of 8 procedural people, split by person.
COUNTS = {"train": 27, "val": 5, "test": 10}


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
    assert config.train.mask_weight == 5.0  # the demo's recipe adds L_mask (RESULTS.md)
    assert experiment(DemoSettings(mask_weight=0.0), "feratt_rep_cls", 7).train.mask_weight == 0
    # ... and aligns I_att by G_att's mask, by the true one for the first 200 steps.
    assert config.model.alignment == "moments" and config.train.alignment_teacher_steps == 200
    paper = experiment(
        DemoSettings(alignment="none", alignment_teacher_steps=0), "feratt_rep_cls", 7
    )
    assert paper.model.alignment == "none" and paper.train.alignment_teacher_steps == 0


def _write_csv_log(path: Path, rows: list[list]) -> None:
    path.parent.mkdir(parents=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "step", "train/loss_step", "train/cls_step", "val/acc"])
        writer.writerows(rows)


def test_plot_curves_reads_lightning_csv_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The series are the CSV cells (empty ones skipped; a resumed run's version_1 after
    version_0), and plot_curves draws exactly them: losses per step, accuracy in percent."""
    run = tmp_path / "run"
    _write_csv_log(run / "csv/version_0/metrics.csv", [[0, 4, 2.0, 1.9, ""], [0, 9, 1.5, 1.4, ""]])
    _write_csv_log(run / "csv/version_1/metrics.csv", [[0, 9, "", "", 0.4], [1, 14, 1.25, 1.0, ""]])
    series = plots.read_csv_log(run)
    assert series == {
        "train/loss_step": [(4, 2.0), (9, 1.5), (14, 1.25)],
        "train/cls_step": [(4, 1.9), (9, 1.4), (14, 1.0)],
        "val/acc": [(9, 0.4)],
    }

    figures: list = []
    save = plots._save
    monkeypatch.setattr(
        plots, "_save", lambda figure, path: figures.append(figure) or save(figure, path)
    )
    path = plots.plot_curves({"feratt_rep_cls": run}, tmp_path / "curves.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    losses, accuracy = figures[0].axes[:2]
    drawn = {line.get_label(): line.get_xydata().tolist() for line in losses.lines}
    assert drawn == {
        "feratt_rep_cls loss": [[4, 2.0], [9, 1.5], [14, 1.25]],
        "feratt_rep_cls cls": [[4, 1.9], [9, 1.4], [14, 1.0]],
    }
    assert [line.get_xydata().tolist() for line in accuracy.lines] == [[[9, 40.0]]]


def test_csv_logs_are_read_in_version_order_past_nine(tmp_path: Path):
    run = tmp_path / "run"
    for version, step in ((2, 20), (10, 100), (9, 90)):
        _write_csv_log(run / f"csv/version_{version}/metrics.csv", [[0, step, 1.0, 1.0, ""]])
    assert [s for s, _ in plots.read_csv_log(run)["train/cls_step"]] == [20, 90, 100]


def test_demo_rejects_bad_epochs(tmp_path: Path, capsys: pytest.CaptureFixture):
    assert main(["demo", "--quick", "--epochs", "0", "--out", str(tmp_path)]) == 1
    assert "--epochs must be at least 1" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture):
    """`feratt demo --quick` trains both models and its records score each selected checkpoint's
    own predictions on the demo's test faces, real and composited."""
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| PreActResNet18 |" in printed and "| FERAtt+Rep+Cls |" in printed
    assert f"people split into {COUNTS}" in printed
    for name in ("report.md", "results.md", "results.csv", "loss_curves.png", "samples.png"):
        assert (out / name).is_file(), name
    table = (out / "results.md").read_text()
    assert "FERAtt+Rep+Cls (k-NN)" in table

    data = demo_datamodule(DemoSettings(out_dir=out).quick())  # the faces the demo rendered
    assert {split: len(faces) for split, faces in data.faces.items()} == COUNTS
    test, train = data.faces["test"], data.faces["train"]
    for model in ("preactresnet18", "feratt_rep_cls"):
        for kind in ("real", "synthetic"):
            record = json.loads((out / "eval" / model / f"{kind}.json").read_text())
            assert record["model"] == model and record["test"] == kind
            assert record["num_samples"] == COUNTS["test"]
            network = load_checkpoint(record["checkpoint"]).model
            images = protocol.test_images(data, kind == "synthetic", torch.device("cpu"))
            assert_record_of(record, network, images, test.labels, train.faces, train.labels)
            if model == "feratt_rep_cls":  # the saved embeddings are those of the same faces
                saved = out / "eval" / model / record["embeddings"]
                assert_saved_embeddings(saved, network, images, test.labels)
        assert (out / "runs" / model / "model-last.pt").is_file()
    assert (out / "eval" / "feratt_rep_cls" / "synthetic_attention.png").is_file()
    report = (out / "report.md").read_text()
    assert "![curves](loss_curves.png)" in report and table.splitlines()[0] in report
    assert np.isfinite(float(next(csv.DictReader((out / "results.csv").open()))["mean"]))
