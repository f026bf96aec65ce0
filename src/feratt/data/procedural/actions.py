"""Facial action units (FACS) of each basic expression, and their per-image sampling.

Prototypes follow Ekman and Friesen's EMFACS tables, as used to code CK+: the renderer moves brows,
lids, cheeks, nose and lips by each unit's intensity in [0, 1].
"""

from __future__ import annotations

import numpy as np

# AU12 (lip corner puller) and AU14 (dimpler) act per side, for the unilateral contempt smirk.
ACTION_UNITS: tuple[str, ...] = (
    "AU1",  # inner brow raiser
    "AU2",  # outer brow raiser
    "AU4",  # brow lowerer (brows down and together)
    "AU5",  # upper lid raiser (eyes wide)
    "AU6",  # cheek raiser (lower lid up, cheeks lifted)
    "AU7",  # lid tightener
    "AU9",  # nose wrinkler
    "AU10",  # upper lip raiser
    "AU12L",
    "AU12R",
    "AU14L",
    "AU14R",
    "AU15",  # lip corner depressor
    "AU17",  # chin raiser
    "AU20",  # lip stretcher
    "AU24",  # lip presser
    "AU25",  # lips part
    "AU26",  # jaw drop
)

_PROTOTYPES: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"AU6": 0.9, "AU12": 1.0},
    "surprise": {"AU1": 1.0, "AU2": 1.0, "AU5": 0.9, "AU25": 0.6, "AU26": 1.0},
    "sad": {"AU1": 1.0, "AU4": 0.6, "AU15": 1.0, "AU17": 0.6},
    "anger": {"AU4": 1.0, "AU5": 0.4, "AU7": 0.8, "AU17": 0.3, "AU24": 1.0},
    "disgust": {"AU4": 0.4, "AU7": 0.4, "AU9": 1.0, "AU10": 1.0, "AU15": 0.3, "AU17": 0.3},
    "fear": {"AU1": 1.0, "AU2": 0.6, "AU4": 0.7, "AU5": 1.0, "AU20": 1.0, "AU25": 0.8, "AU26": 0.3},
    "contempt": {"AU12": 0.5, "AU14": 1.0},
}
_UNILATERAL = frozenset({"contempt"})
SIDED_UNITS = ("AU12", "AU14")


def sample_actions(expression: str, rng: np.random.Generator) -> dict[str, float]:
    """Action-unit intensities for one image of `expression`.

    A random overall intensity (from a trace to the full apex), a per-unit jitter and small
    idiosyncratic activity in every unit keep classes separable but not trivially so.
    """
    if expression not in _PROTOTYPES:
        raise ValueError(f"no procedural prototype for expression {expression!r}")
    actions = {unit: rng.uniform(0.0, 0.06) for unit in ACTION_UNITS}
    intensity = rng.uniform(0.6, 1.0)
    sides = ("L", "R")[rng.integers(2)] if expression in _UNILATERAL else "LR"
    for unit, weight in _PROTOTYPES[expression].items():
        value = weight * intensity * rng.uniform(0.75, 1.25)
        if unit in SIDED_UNITS:
            for side in sides:
                actions[unit + side] = max(actions[unit + side], value)
        else:
            actions[unit] = max(actions[unit], value)
    if expression == "happy":
        # Half of the smiles are open, showing the upper teeth.
        actions["AU25"] = max(actions["AU25"], rng.uniform(-0.8, 1.0) * intensity)
    return {unit: float(np.clip(value, 0.0, 1.2)) for unit, value in actions.items()}
