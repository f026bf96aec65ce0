"""`feratt models` lists every registered model with its size and cost."""

from __future__ import annotations

import pytest

from feratt import create_model, list_models
from feratt.cli import main
from feratt.pretrained import PRETRAINED, PretrainedWeights


def _cells(table: str, name: str) -> list[str]:
    """The first five cells (fewer in a narrower table) of the table row that starts with `name`."""
    row = next(line for line in table.splitlines() if f"│ {name} " in line)
    return [cell.strip() for cell in row.split("│")[1:6]]


def test_lists_every_model_and_the_pretrained_weights(
    install_pretrained, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Each model's row gives the parameters of `create_model` at these settings (in millions, to
    the printed two decimals); each pretrained entry its file status, size, digest and accuracy."""
    path = install_pretrained({"val/acc": 0.625})
    absent = PretrainedWeights("absent_weights", "absent.pt", None, "never built", "release/x")
    monkeypatch.setitem(PRETRAINED, absent.name, absent)
    assert main(["models", "--num-classes", "7", "--width", "0.125"]) == 0
    out = capsys.readouterr().out
    assert "K=7, 64x64" in out
    for name in list_models():
        model = create_model(name, num_classes=7, width=0.125)
        parameters = sum(p.numel() for p in model.parameters())
        row, count, gflops = _cells(out, name)[:3]
        assert (row, count) == (name, f"{parameters / 1e6:.2f}")
        assert float(gflops) > 0

    size = f"{path.stat().st_size / 1e6:.1f}"
    sha256 = PRETRAINED["fer2013_feratt"].sha256[:12]
    assert _cells(out, "fer2013_feratt") == ["fer2013_feratt", "ok", size, sha256, "62.5%"]
    assert _cells(out, "absent_weights") == ["absent_weights", "missing", "-", "not recorded", "-"]
    note = next(line for line in out.splitlines() if line.startswith("absent_weights: "))
    assert f"{path.parent / 'absent.pt'} is missing" in note
    assert "feratt train --config configs/release/x.yaml" in note


def test_bad_input_size_is_reported(capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "--input-size", "100", "--width", "0.125"]) == 1
    assert "feratt models: error: invalid" in capsys.readouterr().err
