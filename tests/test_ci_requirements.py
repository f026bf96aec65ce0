"""Under CI=true a missing requirement (real data, shipped weights) fails a test, never skips it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_ROOT_CONFTEST = Path(__file__).with_name("conftest.py")
_spec = importlib.util.spec_from_file_location("root_conftest", _ROOT_CONFTEST)
assert _spec is not None and _spec.loader is not None
root_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(root_conftest)


def test_missing_requirement_skips_locally_and_fails_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no data here"):
        root_conftest.require(False, "no data here")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no data here; CI=true requires it"):
        root_conftest.require(False, "no data here")
    root_conftest.require(True, "present")  # neither skips nor fails


def test_ci_script_runs_the_tests_with_ci_true():
    script = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    assert "CI=true make test" in script
