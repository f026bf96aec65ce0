"""Per-person appearance of procedural faces: geometry, tones and hair, fixed for a subject."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Hair styles: a short cap, long hair falling behind the shoulders, a fringe down to the brows,
# and a thin, nearly bald crop.
HAIR_STYLES = ("short", "long", "fringe", "thin")


@dataclass(frozen=True)
class Identity:
    """What stays the same across one subject's images (normalised crop coordinates, y down).

    Lengths are in units of half the crop side; tones are grey levels in [0, 1].
    """

    face_half_width: float
    face_half_height: float
    face_centre_y: float
    jaw_taper: float
    skin: float
    eye_dy: float
    eye_dx: float
    eye_half_width: float
    eye_opening: float
    eye_tilt: float
    iris: float
    brow_gap: float
    brow_thickness: float
    brow_arch: float
    brow_tone: float
    nose_dy: float
    nose_half_width: float
    mouth_dy: float
    mouth_half_width: float
    upper_lip: float
    lower_lip: float
    lip_tone: float
    corner_rest: float
    fold_depth: float
    hair_style: str
    hair_tone: float
    hairline: float
    backdrop: float
    clothing: float
    neck_half_width: float


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw one person; tones and proportions cover the range of adult frontal face crops."""
    u = rng.uniform
    skin = u(0.32, 0.82)
    dark_hair = rng.random() < 0.75
    hair_tone = u(0.04, 0.28) if dark_hair else u(0.45, 0.78)
    return Identity(
        face_half_width=u(0.43, 0.53),
        face_half_height=u(0.58, 0.68),
        face_centre_y=u(0.04, 0.11),
        jaw_taper=u(0.12, 0.34),
        skin=skin,
        eye_dy=u(-0.11, -0.05),
        eye_dx=u(0.175, 0.225),
        eye_half_width=u(0.075, 0.095),
        eye_opening=u(0.028, 0.040),
        eye_tilt=u(-0.012, 0.018),
        iris=u(0.08, 0.40),
        brow_gap=u(0.085, 0.12),
        brow_thickness=u(0.038, 0.056),
        brow_arch=u(0.005, 0.03),
        brow_tone=min(hair_tone, skin) * u(0.35, 0.7),
        nose_dy=u(0.20, 0.26),
        nose_half_width=u(0.055, 0.085),
        mouth_dy=u(0.12, 0.16),
        mouth_half_width=u(0.15, 0.2),
        upper_lip=u(0.02, 0.034),
        lower_lip=u(0.026, 0.045),
        lip_tone=skin * u(0.45, 0.65),
        corner_rest=u(-0.012, 0.012),
        fold_depth=u(0.0, 0.3),
        hair_style=HAIR_STYLES[rng.choice(len(HAIR_STYLES), p=(0.4, 0.3, 0.2, 0.1))],
        hair_tone=hair_tone,
        hairline=u(0.50, 0.62),
        backdrop=u(0.15, 0.85),
        clothing=u(0.05, 0.9),
        neck_half_width=u(0.20, 0.27),
    )
