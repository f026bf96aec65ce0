"""The wheel carries what the installed package reads at run time: configs, weights, the page."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import cv2
import pytest
from skimage import data

from feratt.inference import Recognizer

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "feratt"


WEIGHTS = SOURCE / "models" / "weights" / "fer2013_feratt.pt"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's wheel, built from a copy so the build leaves nothing in the checkout."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    assert WEIGHTS.is_file(), f"the shipped weights {WEIGHTS} are absent"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "-q", "-w", str(tmp_path), str(tree)], check=True, cwd=tmp_path)
    (built,) = tmp_path.glob("feratt-*.whl")
    return built


def test_wheel_ships_every_config_and_the_weights(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        configs = sorted((SOURCE / "configs").rglob("*.yaml"))
        assert len(configs) > 20
        for config in configs:
            member = f"feratt/{config.relative_to(SOURCE).as_posix()}"
            assert member in names
            assert archive.read(member) == config.read_bytes()
        assert archive.read("feratt/models/weights/fer2013_feratt.pt") == WEIGHTS.read_bytes()
        assert {"feratt/py.typed", "feratt/config.py"} <= names
        page = {f"feratt/serve/static/{n}" for n in ("index.html", "app.js", "style.css")}
        assert page <= names


@pytest.mark.slow
def test_installed_wheel_predicts_a_photo_with_the_shipped_weights(
    wheel: Path, tmp_path: Path
) -> None:
    """`pip install` of the wheel into a new virtual environment, then `feratt predict` from an
    empty folder: the installed package alone (its configs and weights) recognises the face.
    The environment sees the machine's site-packages for torch and the other dependencies."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    python = env_dir / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
    subprocess.run([*pip, str(wheel)], check=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    photo = work / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    where = subprocess.run([python, "-c", "import feratt; print(feratt.__file__)"], cwd=work,
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert where.stdout.startswith(str(env_dir)), where.stdout
    run = subprocess.run([env_dir / "bin" / "feratt", "predict", photo.name, "--device", "cpu"],
                         cwd=work, capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    (face,) = json.loads(run.stdout)
    (direct,) = Recognizer.pretrained(device="cpu").predict(str(photo))  # the checkout's code
    assert face["label"] == direct.label == "happy"
    assert face["confidence"] == pytest.approx(direct.confidence, abs=1e-5)
    models = subprocess.run([env_dir / "bin" / "feratt", "models"], cwd=work,
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert "fer2013_feratt" in models.stdout and " ok " in models.stdout
