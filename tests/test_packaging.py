"""The wheel carries what the installed package reads at run time: configs, weights, the page."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "feratt"


def test_wheel_ships_every_config_and_the_weights(tmp_path: Path) -> None:
    # Build from a copy, so the build leaves no build/ or egg-info in the checkout.
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    weights = tree / "src" / "feratt" / "models" / "weights" / "fer2013_feratt.pt"
    if not weights.is_file():  # not released yet: a stand-in proves the pattern ships it
        weights.parent.mkdir(parents=True, exist_ok=True)
        weights.write_bytes(b"stand-in for the released weights")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "-q", "-w", str(tmp_path), str(tree)], check=True, cwd=tmp_path)

    (wheel,) = tmp_path.glob("feratt-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        configs = sorted((SOURCE / "configs").rglob("*.yaml"))
        assert len(configs) > 20
        for config in configs:
            member = f"feratt/{config.relative_to(SOURCE).as_posix()}"
            assert member in names
            assert archive.read(member) == config.read_bytes()
        assert archive.read("feratt/models/weights/fer2013_feratt.pt") == weights.read_bytes()
        assert {"feratt/py.typed", "feratt/config.py"} <= names
        page = {f"feratt/serve/static/{n}" for n in ("index.html", "app.js", "style.css")}
        assert page <= names
