"""`torch_device`: device strings checked against the machine, errors naming the value."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from feratt.cli import main
from feratt.devices import torch_device


def test_auto_and_cpu_resolve() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert torch_device("auto").type == expected and torch_device(None).type == expected
    assert torch_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("bogus", "--device 'bogus' is not a device; use auto, cpu, cuda, cuda:N or mps"),
        ("meta", "--device 'meta': unsupported device type"),
    ],
)
def test_nonsense_devices_are_named(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        torch_device(value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="--device 'cuda:1': this machine has no CUDA device"):
        torch_device("cuda:1")


@pytest.mark.parametrize("value", ["bogus", "cuda:7"])
def test_predict_reports_a_bad_device_in_one_line(
    value: str, fer_crops: list[Path], shipped_weights: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["predict", str(fer_crops[0]), "--no-detect", "--device", value]) == 1
    err = capsys.readouterr().err.strip()
    assert f"--device '{value}'" in err and "Traceback" not in err and len(err.splitlines()) == 1
