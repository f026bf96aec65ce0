"""An output folder that cannot be written is a one-line error naming the path, exit 1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from feratt import create_model
from feratt.checkpoint import save_checkpoint
from feratt.cli import main
from feratt.config import ExperimentConfig
from feratt.data.labels import EXPRESSIONS


@pytest.mark.parametrize("command", ["train", "predict", "eval", "data prepare"])
def test_an_unwritable_output_folder_is_named(
    command: str,
    tiny_config: Callable[..., ExperimentConfig],
    ckplus48_subset: Path,
    fer2013_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocker = tmp_path / "notes.txt"  # a file where a folder should be: fails even for root
    blocker.write_text("keep me\n")
    out = blocker / "out"
    model = create_model("feratt_rep_cls", num_classes=len(EXPRESSIONS), width=0.125)
    checkpoint = save_checkpoint(tmp_path / "model.pt", model, classes=EXPRESSIONS)
    face = sorted((fer2013_dir / "val" / "happy").glob("*.jpg"))[0]
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config("data.mode=real", f"output_dir={out}").to_dict()))
    argv = {
        "train": ["train", "--config", str(config)],
        "predict": ["predict", str(face), "-c", str(checkpoint), "--no-detect", "--out", str(out)],
        "eval": [
            *("eval", "--checkpoint", str(checkpoint), "--data", str(ckplus48_subset)),
            *("--folds", "2", "--fold", "0", "--device", "cpu", "--out", str(out)),
        ],
        "data prepare": ["data", "prepare", str(ckplus48_subset), "--out", str(out)],
    }[command]
    assert main(argv) == 1
    err = capsys.readouterr().err
    *info, line = err.splitlines()  # Lightning's INFO lines may come first
    assert line.startswith(f"feratt {command.split()[0]}: error: {out}")
    assert line.endswith(": Not a directory")
    assert "Traceback" not in err and not any("error" in text for text in info)
    assert blocker.read_text() == "keep me\n"
