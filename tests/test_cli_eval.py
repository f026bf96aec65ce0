"""`feratt eval`, `feratt report` and `feratt cv` end to end on a few real CK+48 faces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch
from eval_reference import assert_record_of

from feratt import create_model
from feratt.checkpoint import load_checkpoint, save_checkpoint
from feratt.cli import main
from feratt.config import DataConfig
from feratt.data import open_dataset
from feratt.data.records import PreparedFaces
from feratt.engine import protocol
from feratt.engine.datamodule import FERAttDataModule

# Four subjects that have all three expressions; three peak frames each: 36 faces.
SUBJECTS = ("S010", "S011", "S014", "S026")
CLASSES = ("anger", "happy", "surprise")


@pytest.fixture(scope="module")
def small_ckplus48(ckplus48_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CK+48 tree (native layout) holding only a few real faces, so tests stay fast."""
    root = tmp_path_factory.mktemp("ckplus48")
    for name in CLASSES:
        (root / name).mkdir()
        for image in sorted((ckplus48_dir / name).glob("S*.png")):
            if image.name[:4] in SUBJECTS:
                shutil.copy(image, root / name / image.name)
    return root


@pytest.fixture(scope="module")
def small_backgrounds(backgrounds_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("backgrounds")
    for image in sorted(backgrounds_dir.glob("bsd400_*.png"))[:10]:
        shutil.copy(image, root / image.name)
    return root


@pytest.fixture(scope="module")
def small_fer2013(fer2013_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FER2013's image-folder layout with the first three faces of every class in train and val."""
    root = tmp_path_factory.mktemp("fer2013")
    for folder in sorted(fer2013_dir.glob("*/*")):
        (root / folder.relative_to(fer2013_dir)).mkdir(parents=True)
        for image in sorted(folder.glob("*.jpg"))[:3]:
            shutil.copy(image, root / image.relative_to(fer2013_dir))
    return root


def _tiny_checkpoint(path: Path, name: str, classes: tuple[str, ...]) -> Path:
    torch.manual_seed(0)
    model = create_model(name, num_classes=len(classes), embedding_dim=8, width=0.125)
    return save_checkpoint(path, model, classes=classes)


def _trained_checkpoint(path: Path, shipped_weights: Path, classes: tuple[str, ...]) -> Path:
    """The shipped FER2013 weights under `classes` (seven names, in order): a trained model, so
    its labels and embeddings change with the face, unlike those of a freshly initialised one."""
    return save_checkpoint(path, load_checkpoint(shipped_weights).model, classes=classes)


def _not_blank(path: Path) -> bool:
    return float(matplotlib.image.imread(path)[..., :3].std()) > 0.05


def test_eval_cli_writes_json_markdown_and_pngs(
    small_ckplus48: Path,
    small_backgrounds: Path,
    shipped_weights: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    """`feratt eval --fold 1 --folds 2 --synthetic --k 3` scores the checkpoint's own predictions
    on the faces of that fold, real and composited; `feratt report` tabulates them."""
    classes = open_dataset(small_ckplus48).classes  # all 7 CK+48 classes; 4 absent here
    checkpoint = _trained_checkpoint(tmp_path / "rep.pt", shipped_weights, classes)
    out = tmp_path / "eval"
    status = main(
        ["eval", "--checkpoint", str(checkpoint), "--data", str(small_ckplus48),
         "--fold", "1", "--folds", "2", "--synthetic", "--backgrounds", str(small_backgrounds),
         "--cache", str(tmp_path / "cache"), "--batch-size", "8", "--device", "cpu",
         "--k", "3", "--out", str(out)]
    )  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    assert "real: 18 images | cls acc" in printed and "| knn acc" in printed

    # The faces of fold 1 of 2 as training builds them: two of the four subjects, 18 faces.
    data = FERAttDataModule(
        DataConfig(
            path=str(small_ckplus48), folds=2, fold=1, backgrounds=str(small_backgrounds),
            cache_dir=str(tmp_path / "cache"),
        )
    )  # fmt: skip
    data.setup("test")
    test, train, val = (data.faces[split] for split in ("test", "train", "val"))
    assert len(test) == 18 and len(set(test.subjects)) == 2 and set(test.subjects) < set(SUBJECTS)
    assert not set(test.subjects) & (set(train.subjects) | set(val.subjects))
    model = load_checkpoint(checkpoint).model
    for kind in ("real", "synthetic"):
        record = json.loads((out / f"{kind}.json").read_text())
        assert (record["model"], record["test"], record["fold"]) == ("feratt_rep_cls", kind, 1)
        assert record["classes"] == list(classes)
        images = protocol.test_images(data, kind == "synthetic", torch.device("cpu"))
        assert_record_of(record, model, images, test.labels, train.faces, train.labels, k=3)
        for predictor in ("cls", "knn"):
            assert sum(r["support"] for r in record[predictor]["per_class"].values()) == 18
            assert _not_blank(out / f"{kind}_confusion_{predictor}.png")
        assert (out / f"{kind}.md").read_text().startswith(f"# FERAtt+Rep+Cls: {kind} test, fold 1")
        assert _not_blank(out / f"{kind}_attention.png")
        assert (out / f"{kind}_embeddings.npz").is_file()

    report = tmp_path / "report"
    assert main(["report", str(out), "--out", str(report)]) == 0
    table = (report / "results.md").read_text().splitlines()
    assert table[2].startswith("| FERAtt+Rep+Cls | ")
    assert table[3].startswith("| FERAtt+Rep+Cls (k-NN) | ")
    assert (report / "results.csv").is_file()
    assert _not_blank(report / "tsne_feratt_rep_cls_real_fold1.png")
    capsys.readouterr()

    plain = tmp_path / "plain"
    assert main(["report", str(out), "--out", str(plain), "--no-tsne"]) == 0
    assert "t-SNE" not in capsys.readouterr().out
    written = sorted(p.name for p in report.iterdir())
    assert sorted(p.name for p in plain.iterdir()) == [n for n in written if "tsne" not in n]
    assert (plain / "results.md").read_text() == (report / "results.md").read_text()


def _model_labels(faces: PreparedFaces, classes: tuple[str, ...]) -> np.ndarray:
    """The faces' labels as indices into a model's `classes` (matched by name)."""
    return np.array([classes.index(faces.classes[label]) for label in faces.labels])


def test_eval_cli_split_scores_a_shipped_split(
    small_fer2013: Path, shipped_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`feratt eval --split val --k 5` scores the model's own predictions on the 21 faces of the
    val split, its k-NN among the train split's faces (less the validation carve-out)."""
    out, cache = tmp_path / "eval", str(tmp_path / "cache")
    argv = ["eval", "--checkpoint", str(shipped_weights), "--data", str(small_fer2013),
            "--split", "val", "--k", "5", "--cache", cache, "--device", "cpu",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "real: 21 images | cls acc" in capsys.readouterr().out
    record = json.loads((out / "real.json").read_text())
    assert (record["data"], record["split"], record["fold"]) == (str(small_fer2013), "val", None)
    assert not (out / "synthetic.json").exists()

    config = DataConfig(
        path=str(small_fer2013), train_split="train", test_split="val", cache_dir=cache, mode="real"
    )
    data = FERAttDataModule(config)
    data.setup("test")
    test, train = data.faces["test"], data.faces["train"]
    assert sorted(test.paths) == sorted(str(p) for p in small_fer2013.glob("val/*/*.jpg"))
    assert len(train) == 18 and set(train.paths) < {str(p) for p in small_fer2013.glob("train/*/*")}
    loaded = load_checkpoint(shipped_weights)
    labels, train_labels = (_model_labels(f, loaded.classes) for f in (test, train))
    assert_record_of(record, loaded.model, test.faces, labels, train.faces, train_labels, k=5)
    assert record["knn"]["reference_faces"] == 18

    # --knn-reference 7: the k-NN votes among a fixed sample of 7 of the 18 training faces.
    sampled = tmp_path / "sampled"
    assert main([*argv[:-1], str(sampled), "--knn-reference", "7"]) == 0
    record = json.loads((sampled / "real.json").read_text())
    pick = protocol.reference_sample(len(train), 7)
    assert len(pick) == len(set(pick)) == 7 and record["knn"]["reference_faces"] == 7
    assert_record_of(record, loaded.model, test.faces, labels, train.faces[pick],
                     train_labels[pick], k=5)  # fmt: skip
    assert main([*argv, "--knn-reference", "0"]) == 1
    assert "at least 1 face; got 0" in capsys.readouterr().err


def test_eval_cli_errors_name_the_problem(
    small_ckplus48: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    checkpoint = _tiny_checkpoint(tmp_path / "base.pt", "preactresnet18", ("happy", "sad"))
    assert main(["eval", "--checkpoint", str(tmp_path / "nope.pt"), "--data", "x"]) == 1
    assert "nope.pt" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(checkpoint)]) == 1
    assert "give --data" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(checkpoint), "--data", str(small_ckplus48)]) == 1
    assert "--split NAME or --fold K --folds N" in capsys.readouterr().err
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(checkpoint),
                "--data",
                str(small_ckplus48),
                "--fold",
                "0",
                "--folds",
                "2",
                "--cache",
                str(tmp_path / "cache"),
            ]
        )  # fmt: skip
        == 1
    )
    assert "classes ['surprise', 'anger'" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "no-runs")]) == 1
    assert "no-runs: no such evaluation file" in capsys.readouterr().err


@pytest.mark.slow
def test_cv_cli_two_folds_mean_std_and_resume(
    small_ckplus48: Path, small_backgrounds: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(
        f"""
output_dir: {tmp_path / "runs"}
model: {{name: feratt_rep_cls, num_classes: 7, embedding_dim: 8, width: 0.125}}
data:
  path: {small_ckplus48}
  format: ckplus48
  backgrounds: {small_backgrounds}
  cache_dir: {tmp_path / "cache"}
  val_fraction: 0.3
  batch_size: 4
  steps_per_epoch: 2
train:
  max_epochs: 1
  accelerator: cpu
  logger: none
  progress_bar: false
  log_every_n_steps: 1
  grid_every_n_epochs: 0
"""
    )
    runs = tmp_path / "runs" / "tiny"
    assert main(["cv", "--config", str(config), "--folds", "2", "--only", "0"]) == 0
    assert (runs / "fold0/eval/synthetic.json").is_file() and not (runs / "fold1").exists()
    first = (runs / "fold0/eval/real.json").stat().st_mtime_ns
    capsys.readouterr()

    assert main(["cv", "--config", str(config), "--folds", "2"]) == 0
    printed = capsys.readouterr().out
    assert "fold 0/2: already evaluated" in printed and "fold 1/2: training" in printed
    assert (runs / "fold0/eval/real.json").stat().st_mtime_ns == first
    summary = json.loads((runs / "cv_summary.json").read_text())
    assert summary["evaluated"] == [0, 1]
    rep = next(r for r in summary["rows"] if r["predictor"] == "cls")
    assert rep["real"]["accuracy"]["n"] == 2 and rep["synthetic"]["f1"]["n"] == 2
    table = (runs / "results.md").read_text().splitlines()
    assert table[2].startswith("| FERAtt+Rep+Cls | ") and table[2].count(" ± ") == 8
