"""Temperature scaling and the expected calibration error against direct computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from feratt.engine.calibration import fit_temperature, plot_reliability, reliability


def _overconfident(n: int = 4000, k: int = 7, true_t: float = 2.5) -> tuple[torch.Tensor, ...]:
    """Labels drawn from softmax(z), logits reported as true_t * z: calibrated at T = true_t."""
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(n, k, generator=generator) * 1.5
    labels = torch.multinomial(F.softmax(z, dim=1), 1, generator=generator).squeeze(1)
    return z * true_t, labels


def test_fit_temperature_recovers_the_generating_temperature() -> None:
    logits, labels = _overconfident()
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(2.5, rel=0.08)
    # It is the NLL minimum: nearby temperatures do worse.
    nll = [F.cross_entropy(logits / s, labels).item() for s in (0.9 * t, t, 1.1 * t)]
    assert nll[1] < nll[0] and nll[1] < nll[2]


def test_ece_matches_a_loop_and_drops_after_scaling(tmp_path: Path) -> None:
    logits, labels = _overconfident()
    probabilities = F.softmax(logits, dim=1)
    before = reliability(probabilities, labels, bins=10)
    confidence, predicted = probabilities.max(1)
    total = 0.0
    for low in np.arange(0, 1, 0.1):
        inside = (confidence > low) & (confidence <= low + 0.1)
        if inside.any():
            accuracy = (predicted[inside] == labels[inside]).double().mean()
            total += inside.sum().item() * abs(accuracy - confidence[inside].double().mean())
    assert before.ece == pytest.approx(float(total) / len(labels), rel=1e-6)
    after = reliability(F.softmax(logits / fit_temperature(logits, labels), dim=1), labels, 10)
    assert after.ece < 0.3 * before.ece
    path = plot_reliability({"raw": before, "scaled": after}, tmp_path / "reliability.png")
    assert path.stat().st_size > 10_000


def test_reliability_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="3 probability rows for 2 labels"):
        reliability(torch.full((3, 2), 0.5), torch.tensor([0, 1]))
