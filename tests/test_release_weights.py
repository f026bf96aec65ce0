"""scripts/release_weights.py: a run's best model becomes a verified pretrained weights file."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from feratt import create_model
from feratt.checkpoint import load_checkpoint, save_checkpoint
from feratt.data.labels import EXPRESSIONS
from feratt.pretrained import file_sha256

ROOT = Path(__file__).resolve().parents[1]


def _import(path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Execute a file as module `name`, registered in sys.modules for the test only."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run folder as `feratt train` leaves it, as far as the script reads it."""
    torch.manual_seed(0)
    model = create_model("feratt_rep_cls", num_classes=7, width=0.125).eval()
    metadata = {"val/acc": 0.5, "epoch": 3}
    save_checkpoint(tmp_path / "run" / "model-best.pt", model, EXPRESSIONS[:7], metadata)
    return tmp_path / "run"


def test_release_writes_fp16_weights_and_records_their_sha256(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    script = _import(ROOT / "scripts" / "release_weights.py", "release_weights", monkeypatch)
    module = shutil.copy(ROOT / "src" / "feratt" / "pretrained.py", tmp_path / "p.py")
    out = tmp_path / "weights" / "fer2013_feratt.pt"
    argv = [str(run_dir), "--out", str(out), "--module", str(module), "--temperature", "1.5"]
    assert script.main(argv) == 0
    digest = file_sha256(out)
    assert f"sha256: {digest}" in capsys.readouterr().out

    stored = torch.load(out, weights_only=True)["state_dict"]
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    released = load_checkpoint(out)
    assert released.temperature == 1.5 and released.classes == EXPRESSIONS[:7]
    assert released.metadata["val/acc"] == 0.5 and released.metadata["dtype"] == "float16"
    source = load_checkpoint(run_dir / "model-best.pt").model
    images = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(
            released.model(images).logits, source(images).logits, atol=2e-3, rtol=0
        )

    # The rewritten module is valid, and its registry entry now expects exactly this file.
    rewritten = _import(Path(module), "rewritten_pretrained", monkeypatch)
    assert rewritten.PRETRAINED["fer2013_feratt"].sha256 == digest
    before = (ROOT / "src" / "feratt" / "pretrained.py").read_text().splitlines()
    changed = [
        a for a, b in zip(before, Path(module).read_text().splitlines(), strict=True) if a != b
    ]
    assert changed == [line for line in before if line.startswith("FER2013_FERATT_SHA256")]


def test_without_the_constant_it_prints_the_line_to_paste(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    script = _import(ROOT / "scripts" / "release_weights.py", "release_weights", monkeypatch)
    module = tmp_path / "elsewhere.py"
    module.write_text("# no constant here\n")
    out = tmp_path / "fer2013_feratt.pt"
    argv = [str(run_dir), "--out", str(out), "--module", str(module), "--dtype", "float32"]
    assert script.main(argv) == 1
    assert f'FER2013_FERATT_SHA256: str | None = "{file_sha256(out)}"' in capsys.readouterr().out
    assert module.read_text() == "# no constant here\n"
    reloaded = load_checkpoint(out).model.state_dict()
    for name, value in load_checkpoint(run_dir / "model-best.pt").model.state_dict().items():
        assert torch.equal(reloaded[name], value), name  # float32: bit for bit
