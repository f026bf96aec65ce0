"""Drawing one upright procedural face crop, before pose and camera effects, with OpenCV.

Coordinates are normalised, x right and y down; the crop is the window of half-side `_VIEW_HALF`
around `_VIEW_CENTRE`. Shapes are drawn anti-aliased on a uint8 canvas, then a blurred
multiplicative layer adds soft shading.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from feratt.data.procedural.actions import SIDED_UNITS
from feratt.data.procedural.identity import Identity

_SHIFT = 4  # sub-pixel bits for cv2 drawing
# The crop shows this window of the drawing: the head, a little neck and backdrop around it.
_VIEW_CENTRE = np.array([0.0, 0.1])
_VIEW_HALF = 0.7
_SIDES = ((-1.0, "L"), (1.0, "R"))

# How far each action unit moves a landmark at full intensity (normalised units; up and out are
# positive). AU12 and AU14 act on the side of the landmark.
_BROW_INNER_IN = {"AU4": 0.045}
_BROW_INNER_UP = {"AU1": 0.11, "AU4": -0.07, "AU9": -0.02}
_BROW_MIDDLE_UP = {"AU1": 0.035, "AU2": 0.09, "AU4": -0.055, "AU9": -0.015}
_BROW_OUTER_UP = {"AU1": -0.015, "AU2": 0.1, "AU4": -0.04}
_CORNER_OUT = {"AU12": 0.05, "AU14": 0.02, "AU20": 0.06, "AU24": -0.015, "AU17": -0.01,
               "AU26": -0.035}  # fmt: skip
_CORNER_UP = {"AU12": 0.09, "AU14": 0.05, "AU15": -0.075, "AU20": -0.012, "AU10": 0.01}
_UPPER_LIP_UP = {"AU10": 0.03}


@lru_cache(maxsize=8)
def _grid(res: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised (x, y) coordinates of the pixel centres of a res x res canvas."""
    axis = ((np.arange(res, dtype=np.float32) + 0.5) / res * 2.0 - 1.0) * _VIEW_HALF
    x, y = np.meshgrid(axis + _VIEW_CENTRE[0], axis + _VIEW_CENTRE[1])
    return x, y


def _curve(start, middle, end, n: int = 16) -> np.ndarray:
    """Quadratic Bezier from `start` to `end` that passes through `middle` halfway."""
    start, middle, end = (np.asarray(p, dtype=np.float64) for p in (start, middle, end))
    control = 2.0 * middle - (start + end) / 2.0
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * start + 2 * t * (1 - t) * control + t**2 * end


class _Canvas:
    """A uint8 canvas addressed in normalised coordinates."""

    def __init__(self, res: int) -> None:
        self.res = res
        self.image = np.zeros((res, res), np.uint8)
        self.x, self.y = _grid(res)

    def _points(self, points) -> np.ndarray:
        window = (np.asarray(points) - _VIEW_CENTRE) / _VIEW_HALF
        return np.round((window + 1.0) * 0.5 * self.res * (1 << _SHIFT)).astype(np.int32)

    def length(self, length) -> np.ndarray:
        """Pixels spanned by a normalised length."""
        return np.asarray(length) / _VIEW_HALF * 0.5 * self.res

    def _width(self, width: float) -> int:
        return max(1, round(float(self.length(width))))

    def fill(self, polygon, tone: float) -> None:
        cv2.fillPoly(self.image, [self._points(polygon)], _level(tone), cv2.LINE_AA, _SHIFT)

    def line(self, points, tone: float, width: float) -> None:
        cv2.polylines(
            self.image,
            [self._points(points)],
            False,
            _level(tone),
            self._width(width),
            cv2.LINE_AA,
            _SHIFT,
        )

    def ellipse(self, centre, axes, angle: float, tone: float) -> None:
        centre = tuple(int(v) for v in self._points(centre))
        axes = tuple(int(v) for v in np.round(self.length(axes) * (1 << _SHIFT)))
        cv2.ellipse(self.image, centre, axes, angle, 0, 360, _level(tone), -1, cv2.LINE_AA, _SHIFT)

    def mask(self, polygon) -> np.ndarray:
        out = np.zeros((self.res, self.res), np.uint8)
        cv2.fillPoly(out, [self._points(polygon)], 1, cv2.LINE_8, _SHIFT)
        return out.astype(bool)

    def paint(self, where: np.ndarray, tone) -> None:
        values = tone[where] if isinstance(tone, np.ndarray) else tone
        self.image[where] = np.clip(np.asarray(values) * 255.0, 0, 255).astype(np.uint8)


def _shift(au: dict[str, float], table: dict[str, float], side: str = "") -> float:
    """A landmark's displacement: the table's distances weighted by the units' intensities."""
    return sum(d * au[unit + side if unit in SIDED_UNITS else unit] for unit, d in table.items())


def _level(tone: float) -> float:
    return min(max(float(tone), 0.0), 1.0) * 255.0


@dataclass(frozen=True)
class _Layout:
    """Where the features sit in this image, after the expression moved them."""

    dx: float
    centre_y: float
    eye_y: float
    nose_y: float
    mouth_y: float
    opening: float
    chin_drop: float


def draw_face(
    identity: Identity, actions: dict[str, float], rng: np.random.Generator, res: int
) -> tuple[np.ndarray, np.ndarray]:
    """Render `identity` showing `actions`; returns (grey float32 image in [0, 1], face mask)."""
    idt, au = identity, actions
    eye_y = idt.face_centre_y + idt.eye_dy + rng.uniform(-0.02, 0.02)
    opening = 0.03 * au["AU25"] + 0.15 * au["AU26"]
    layout = _Layout(
        dx=rng.uniform(-0.025, 0.025),
        centre_y=idt.face_centre_y,
        eye_y=eye_y,
        nose_y=eye_y + idt.nose_dy,
        mouth_y=eye_y + idt.nose_dy + idt.mouth_dy,
        opening=opening,
        chin_drop=0.07 * au["AU26"],
    )
    canvas = _Canvas(res)
    _draw_backdrop(canvas, idt, rng)
    hair = _hair_texture(canvas, idt, rng)
    if idt.hair_style == "long":
        _draw_long_hair(canvas, idt, hair)
    _draw_body(canvas, idt, layout)
    outline = _face_outline(idt, layout)
    canvas.fill(outline, idt.skin)
    face_mask = canvas.mask(outline)
    _draw_forehead_lines(canvas, idt, layout, au)
    _draw_hair_front(canvas, idt, layout, hair, rng)
    _draw_brows(canvas, idt, layout, au)
    _draw_eyes(canvas, idt, layout, au, rng)
    _draw_nose(canvas, idt, layout, au)
    corners = _draw_mouth(canvas, idt, layout, au)
    _draw_folds(canvas, idt, layout, au, corners)
    image = canvas.image.astype(np.float32) / 255.0
    return image * _shading(canvas, idt, layout, au, face_mask), face_mask


def _draw_backdrop(canvas: _Canvas, idt: Identity, rng: np.random.Generator) -> None:
    """A studio wall: the subject's backdrop tone, a gradient and faint low-frequency mottling."""
    gx, gy = rng.uniform(-0.12, 0.12, size=2)
    mottle = cv2.resize(rng.normal(0, 0.04, (4, 4)).astype(np.float32), (canvas.res,) * 2)
    wall = idt.backdrop * rng.uniform(0.9, 1.1) + gx * canvas.x + gy * canvas.y + mottle
    canvas.paint(np.ones_like(canvas.x, bool), wall)


def _hair_texture(canvas: _Canvas, idt: Identity, rng: np.random.Generator) -> np.ndarray:
    """Hair tone with strands: noise that varies fast across and slowly along the hair."""
    strands = rng.normal(0, 1, (3, canvas.res // 3)).astype(np.float32)
    strands = cv2.resize(strands, (canvas.res,) * 2, interpolation=cv2.INTER_LINEAR)
    return idt.hair_tone * (1.0 + 0.22 * strands) + 0.03 * strands


def _draw_long_hair(canvas: _Canvas, idt: Identity, hair: np.ndarray) -> None:
    a, b = idt.face_half_width, idt.face_half_height
    x, y = canvas.x, canvas.y
    top = idt.face_centre_y
    head = (x / (a * 1.3)) ** 2 + ((y - top - 0.02) / (b * 1.12)) ** 2 < 1.0
    falls = (np.abs(x) < a * 1.28 - 0.1 * np.clip(y - top, 0, None)) & (y > top)
    canvas.paint(head | falls, hair)


def _draw_body(canvas: _Canvas, idt: Identity, layout: _Layout) -> None:
    """Neck (in the chin's shadow), shoulders and ears."""
    a, b = idt.face_half_width, idt.face_half_height
    neck_top = layout.centre_y + 0.5 * b
    w = idt.neck_half_width
    canvas.ellipse((0.0, 1.25), (1.2, 0.5), 0.0, idt.clothing)
    canvas.fill([(-w, neck_top), (w, neck_top), (w * 1.1, 0.9), (-w * 1.1, 0.9)], idt.skin * 0.8)
    for side, _ in _SIDES:
        centre = (side * a * 0.97 + layout.dx * 0.5, layout.eye_y + 0.08)
        canvas.ellipse(centre, (0.05, 0.09), side * 8.0, idt.skin * 0.88)


def _face_outline(idt: Identity, layout: _Layout) -> np.ndarray:
    """The face oval: a round forehead and a jaw that tapers to the chin and drops with it."""
    t = np.linspace(0.0, 2.0 * np.pi, 72, endpoint=False)
    below = np.sin(t) > 0
    x = idt.face_half_width * np.cos(t) * np.where(below, 1.0 - idt.jaw_taper * np.sin(t) ** 2, 1.0)
    half_height = np.where(below, idt.face_half_height + layout.chin_drop, idt.face_half_height)
    return np.stack([x, layout.centre_y + half_height * np.sin(t)], axis=1)


def _draw_forehead_lines(canvas: _Canvas, idt: Identity, layout: _Layout, au: dict) -> None:
    """Horizontal forehead wrinkles: central with the inner brows up, wide with the outer."""
    depth = max(au["AU1"], au["AU2"]) - 0.3
    if depth <= 0:
        return
    spread = 0.1 + 0.2 * au["AU2"] / (au["AU1"] + au["AU2"])
    base = layout.eye_y - idt.brow_gap - 0.1
    for k in range(3):
        y = base - 0.04 * k
        line = _curve(
            (layout.dx - spread, y + 0.012), (layout.dx, y), (layout.dx + spread, y + 0.012)
        )
        canvas.line(line, idt.skin * (1 - 0.35 * depth), 0.01)


def _draw_hair_front(
    canvas: _Canvas, idt: Identity, layout: _Layout, hair: np.ndarray, rng: np.random.Generator
) -> None:
    """Hair over the top of the head, down to a hairline that falls towards the temples."""
    a, b, cy = idt.face_half_width, idt.face_half_height, layout.centre_y
    x, y = canvas.x, canvas.y
    head = (x / (a * 1.07)) ** 2 + ((y - cy + 0.02) / (b * 1.08)) ** 2 < 1.0
    temples = 0.5 * b * (np.abs(x) / a) ** 3
    if idt.hair_style == "fringe":
        hairline = layout.eye_y - idt.brow_gap - 0.06 + 0.012 * np.sin(45 * x + rng.uniform(0, 6))
        tone = hair
    elif idt.hair_style == "thin":
        hairline = cy - 0.8 * b + temples
        tone = 0.5 * (hair + idt.skin)
    else:
        hairline = cy - idt.hairline * b + temples
        tone = hair
    canvas.paint(head & (y < hairline), tone)


def _brow_points(idt: Identity, layout: _Layout, au: dict, side: float) -> tuple:
    ex, ew, base = side * idt.eye_dx + layout.dx, idt.eye_half_width, layout.eye_y - idt.brow_gap
    inner = (
        ex - side * (0.85 * ew + _shift(au, _BROW_INNER_IN)),
        base - _shift(au, _BROW_INNER_UP),
    )
    middle = (ex + side * 0.1 * ew, base - idt.brow_arch - _shift(au, _BROW_MIDDLE_UP))
    outer = (ex + side * 1.25 * ew, base + 0.2 * idt.brow_gap - _shift(au, _BROW_OUTER_UP))
    return inner, middle, outer


def _draw_brows(canvas: _Canvas, idt: Identity, layout: _Layout, au: dict) -> None:
    """Tapered brows, and the vertical frown lines between them when they are drawn together."""
    for side, _ in _SIDES:
        inner, middle, outer = _brow_points(idt, layout, au, side)
        centre = _curve(inner, middle, outer, 12)
        half = idt.brow_thickness * np.linspace(0.55, 0.25, 12)[:, None] * np.array([[0.0, 1.0]])
        canvas.fill(np.concatenate([centre - half, (centre + half)[::-1]]), idt.brow_tone)
    frown = au["AU4"] - 0.25
    if frown > 0:
        inner_y = _brow_points(idt, layout, au, 1.0)[0][1]
        for side, _ in _SIDES:
            x = layout.dx + side * 0.022
            line = [(x + side * 0.006, inner_y - 0.03), (x, inner_y + 0.04)]
            canvas.line(line, idt.skin * (1 - 0.5 * frown), 0.01)


def _draw_eyes(
    canvas: _Canvas, idt: Identity, layout: _Layout, au: dict, rng: np.random.Generator
) -> None:
    """Almond eyes whose lids open (AU5), tighten (AU7) or are pushed up by the cheeks (AU6)."""
    opening = idt.eye_opening
    upper = opening * (1 + 1.4 * au["AU5"]) * (1 - 0.45 * au["AU7"]) * (1 - 0.3 * au["AU6"])
    upper *= (1 - 0.15 * au["AU4"]) * (1 - 0.2 * au["AU9"])
    lower = 0.7 * opening * (1 - 0.55 * au["AU6"]) * (1 - 0.45 * au["AU7"]) * (1 + 0.3 * au["AU5"])
    lower *= 1 - 0.3 * au["AU9"]
    gaze = rng.uniform(-0.015, 0.015, size=2)
    ew, y = idt.eye_half_width, layout.eye_y
    for side, _ in _SIDES:
        ex = side * idt.eye_dx + layout.dx
        inner, outer = (ex - side * ew, y + 0.004), (ex + side * ew, y - idt.eye_tilt)
        top = _curve(inner, (ex + side * 0.1 * ew, y - upper), outer)
        bottom = _curve(outer, (ex, y + lower), inner)
        eye = canvas.mask(np.concatenate([top, bottom]))
        canvas.paint(eye, 0.86)
        ix, iy = ex + gaze[0], y + 0.15 * opening + gaze[1]
        distance = (canvas.x - ix) ** 2 + (canvas.y - iy) ** 2
        canvas.paint(eye & (distance < (0.6 * ew) ** 2), idt.iris)
        canvas.paint(eye & (distance < (0.25 * ew) ** 2), 0.03)
        canvas.line(top, 0.05, 0.016)
        canvas.line(bottom, idt.skin * 0.62, 0.006)
        canvas.line(top + np.array([0.0, -0.022 - 0.4 * (upper - opening)]), idt.skin * 0.8, 0.006)
        squint = au["AU6"] - 0.35
        if squint > 0:
            for lift in (-0.018, 0.012):
                start = (outer[0] + side * 0.02, outer[1] + lift)
                canvas.line(
                    [start, (start[0] + side * 0.04, start[1] + 1.3 * lift)],
                    idt.skin * (1 - 0.35 * squint),
                    0.007,
                )
            canvas.line(bottom + np.array([0.0, 0.028]), idt.skin * (1 - 0.25 * squint), 0.007)


def _draw_nose(canvas: _Canvas, idt: Identity, layout: _Layout, au: dict) -> None:
    """Bridge, wings and nostrils; the nose wrinkler (AU9) lifts the wings, creases the bridge."""
    nx = 1.3 * layout.dx
    wing_y = layout.nose_y - 0.014 * au["AU9"] - 0.008 * au["AU10"]
    nw = idt.nose_half_width * (1 + 0.15 * au["AU9"])
    for side, _ in _SIDES:
        nostril = (nx + side * 0.45 * nw, wing_y + 0.012)
        canvas.ellipse(nostril, (0.36 * nw, 0.15 * nw), side * 20.0, idt.skin * 0.35)
        wing = _curve(
            (nx + side * 0.7 * nw, wing_y - 0.045),
            (nx + side * 1.05 * nw, wing_y - 0.005),
            (nx + side * 0.55 * nw, wing_y + 0.024),
        )
        canvas.line(wing, idt.skin * 0.66, 0.01)
        bridge = [(nx + side * 0.045, layout.eye_y + 0.03), (nx + side * 0.06, wing_y - 0.05)]
        canvas.line(bridge, idt.skin * 0.9, 0.008)
    wrinkle = au["AU9"] - 0.2
    if wrinkle > 0:
        for k in range(3):
            y = layout.eye_y + 0.025 + 0.022 * k
            line = _curve((nx - 0.045, y + 0.008), (nx, y), (nx + 0.045, y + 0.008))
            canvas.line(line, idt.skin * (1 - 0.55 * wrinkle), 0.01)


def _draw_mouth(canvas: _Canvas, idt: Identity, layout: _Layout, au: dict) -> dict:
    """Lips between two corners the expression pulls; returns the corners for the folds."""
    mx, my = 1.2 * layout.dx, layout.mouth_y
    smile = max(au["AU12L"], au["AU12R"])
    corners = {}
    for side, name in _SIDES:
        out = idt.mouth_half_width + _shift(au, _CORNER_OUT, name)
        up = _shift(au, _CORNER_UP, name) - idt.corner_rest
        corners[name] = np.array([mx + side * out, my - up])
    squeeze = (1 - 0.6 * au["AU24"]) * (1 - 0.3 * au["AU20"])
    upper_lip = idt.upper_lip * squeeze * (1 - 0.25 * smile) * (1 - 0.2 * au["AU10"])
    lower_lip = idt.lower_lip * squeeze * (1 - 0.2 * smile) * (1 + 0.2 * au["AU17"])
    inner_top = my - 0.25 * layout.opening - _shift(au, _UPPER_LIP_UP)
    inner_bottom = my + 0.75 * layout.opening + 0.01 * smile - 0.012 * au["AU17"]
    left, right = corners["L"], corners["R"]
    top_inner = _curve(left, (mx, inner_top), right)
    top_outer = _curve(left, (mx, inner_top - upper_lip), right)
    top_outer[:, 1] += 0.4 * upper_lip * np.exp(-(((top_outer[:, 0] - mx) / 0.03) ** 2))
    bottom_inner = _curve(right, (mx, inner_bottom), left)
    bottom_outer = _curve(right, (mx, inner_bottom + lower_lip), left)
    canvas.fill(np.concatenate([top_outer, bottom_outer]), idt.lip_tone)
    if inner_bottom - inner_top > 0.006:
        mouth = canvas.mask(np.concatenate([top_inner, bottom_inner]))
        canvas.paint(mouth, 0.07)
        gum_line = np.interp(canvas.x, top_inner[:, 0], top_inner[:, 1])
        canvas.paint(mouth & (canvas.y < gum_line + 0.02), 0.78)
    canvas.line(top_inner, idt.lip_tone * 0.45, 0.009)
    for side, name in _SIDES:
        dimple = au["AU14" + name] - 0.2
        if dimple > 0:
            cx, cy = corners[name]
            canvas.line(
                [(cx + side * 0.012, cy - 0.02), (cx + side * 0.022, cy + 0.014)],
                idt.skin * (1 - 0.45 * dimple),
                0.009,
            )
    return corners


def _draw_folds(canvas: _Canvas, idt: Identity, layout: _Layout, au: dict, corners: dict) -> None:
    """Nasolabial folds from the nose wings past the mouth corners, deepened by pulls and sneers."""
    nw = idt.nose_half_width
    for side, name in _SIDES:
        depth = idt.fold_depth + 0.7 * max(au["AU12" + name], au["AU9"], au["AU10"])
        depth += 0.3 * au["AU6"] + 0.3 * au["AU20"]
        start = (1.3 * layout.dx + side * (nw + 0.015), layout.nose_y - 0.015)
        end = corners[name] + np.array([side * 0.035, 0.03])
        middle = (np.asarray(start) + end) / 2 + np.array([side * 0.025, 0.0])
        canvas.line(_curve(start, middle, end), idt.skin * (1 - 0.3 * min(depth, 1.0)), 0.008)


def _shading(
    canvas: _Canvas, idt: Identity, layout: _Layout, au: dict, face_mask: np.ndarray
) -> np.ndarray:
    """Multiplicative soft light: a rounded face, eye sockets, cheek highlights, chin shadow."""
    a, b = idt.face_half_width, idt.face_half_height
    radius = (canvas.x / a) ** 2 + ((canvas.y - layout.centre_y) / b) ** 2
    rounding = np.where(face_mask, 1.0 - 0.22 * np.clip(radius, 0.0, 1.0) ** 2, 1.0)
    # Shadows and highlights rarely overlap: each goes on its own layer, then both are blurred.
    shadows, highlights = _Canvas(canvas.res), _Canvas(canvas.res)

    def blob(centre, axes, amount: float) -> None:
        (highlights if amount > 0 else shadows).ellipse(centre, axes, 0.0, abs(amount))

    chin_y = layout.centre_y + b + layout.chin_drop
    blob((0.0, chin_y + 0.06), (a * 0.7, 0.07), -0.3)
    for side, _ in _SIDES:
        ex = side * idt.eye_dx + layout.dx
        blob((ex, layout.eye_y - 0.01), (1.5 * idt.eye_half_width, 0.06), -0.16)
        blob(
            (ex + side * 0.02, layout.eye_y + 0.14 - 0.03 * au["AU6"]),
            (0.075, 0.05),
            0.05 + 0.14 * au["AU6"],
        )
    blob((1.3 * layout.dx, layout.nose_y + 0.035), (idt.nose_half_width * 1.2, 0.02), -0.12)
    blob((1.2 * layout.dx, layout.mouth_y + 0.08 + layout.opening), (0.1, 0.02), -0.1)
    sigma = float(canvas.length(0.035))
    relief = (highlights.image.astype(np.float32) - shadows.image) / 255.0
    relief = cv2.GaussianBlur(relief, (0, 0), sigma)
    return (rounding * (1.0 + relief)).astype(np.float32)
