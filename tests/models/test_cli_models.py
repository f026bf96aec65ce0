"""`feratt models` lists every registered model with its size and cost."""

from __future__ import annotations

import re

import pytest

from feratt import list_models
from feratt.cli import main


def test_lists_every_model_with_parameters_and_gflops(capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "--num-classes", "7", "--width", "0.125"]) == 0
    out = capsys.readouterr().out
    assert "K=7, 64x64" in out
    for name in list_models():
        row = next(line for line in out.splitlines() if f" {name} " in line)
        parameters, gflops = (float(x) for x in re.findall(r"\d+\.\d+", row))
        assert parameters > 0 and gflops > 0


def test_bad_input_size_is_reported(capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "--input-size", "100", "--width", "0.125"]) == 1
    assert "feratt models: error: invalid" in capsys.readouterr().err
