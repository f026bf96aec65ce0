"""Property-based tests (hypothesis) of image decoding and of the FER2013 CSV parser: whatever
the bytes, the result is a valid image or face table, or an error of the documented type that
names the file; never another exception, and never more pixels than the limit."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feratt.data import open_dataset
from feratt.data.datasets.base import CorruptEntryError
from feratt.data.io import CorruptImageError, ImageTooLargeError, read_image

# Deterministic (the same examples on every run and machine) and a few seconds in all.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SUFFIXES = (".png", ".jpg", ".bmp", ".tif", ".pgm")


@pytest.fixture(scope="module")
def seed_images(face_pixels: list[np.ndarray]) -> list[tuple[str, bytes]]:
    """Real faces (CK+48 crops) encoded in every format read_image takes."""
    seeds = []
    for index, suffix in enumerate(SUFFIXES):
        face = face_pixels[index % len(face_pixels)]
        image = face if suffix == ".pgm" else cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
        seeds.append((suffix, cv2.imencode(suffix, image)[1].tobytes()))
    return seeds


@st.composite
def mutated(draw: st.DrawFn, seeds: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """A seed image with bytes overwritten, inserted, deleted or the file cut short."""
    suffix, raw = draw(st.sampled_from(seeds))
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(("overwrite", "insert", "delete", "cut")))
        chunk = draw(st.binary(min_size=1, max_size=8))
        if action == "overwrite":
            data[position : position + len(chunk)] = chunk
        elif action == "insert":
            data[position:position] = chunk
        elif action == "delete":
            del data[position : position + len(chunk)]
        else:
            del data[position:]
    return suffix, bytes(data)


def _decode(suffix: str, raw: bytes, max_pixels: int) -> np.ndarray | None:
    """read_image of `raw` written to a file; None when it raised CorruptImageError or
    ImageTooLargeError naming it."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(raw)
        try:
            image = read_image(path, max_pixels=max_pixels)
        except (CorruptImageError, ImageTooLargeError) as err:
            assert str(path) in str(err)
            return None
    assert image.dtype == np.uint8 and image.ndim in (2, 3) and image.size > 0
    assert image.ndim == 2 or image.shape[2] == 3
    return image


def test_decoding_mutated_real_images(seed_images: list[tuple[str, bytes]]) -> None:
    @FUZZ
    @given(mutated(seed_images), st.sampled_from((64, 2304, 10_000)))
    def check(case: tuple[str, bytes], max_pixels: int) -> None:
        image = _decode(*case, max_pixels)
        if image is not None:  # the header's size is the decoded size: the limit holds
            assert image.shape[0] * image.shape[1] <= max_pixels

    check()


@FUZZ
@given(st.binary(max_size=512), st.sampled_from(SUFFIXES))
def test_decoding_arbitrary_bytes(raw: bytes, suffix: str) -> None:
    _decode(suffix, raw, 10_000)


# ----------------------------------------------------------------- FER2013 CSV

PIXEL_TOKENS = st.one_of(
    st.integers(0, 255).map(str),
    st.integers(-70000, 70000).map(str),
    st.sampled_from(("", "1.5", "x", "0x10", "+3", "-0", "1e2", "٣", "nan", "  ")),
)


@st.composite
def fer2013_rows(draw: st.DrawFn) -> tuple[dict[str, str], int, list[str]]:
    """One CSV row: emotion, pixels and Usage (each a valid value or a plausible wrong one), how
    many of the header's fields it has, and extra fields."""
    emotion = draw(st.one_of(st.integers(0, 6).map(str), st.sampled_from(("7", "-1", "", "x"))))
    if draw(st.booleans()):  # a whole face: 2304 values from a seed (quick to shrink)
        face = np.random.default_rng(draw(st.integers(0, 2**16))).integers(0, 256, 2304)
        pixels = " ".join(map(str, face))
    else:
        pixels = " ".join(draw(st.lists(PIXEL_TOKENS, max_size=40)))
    usage = draw(st.sampled_from(("Training", "PublicTest", "PrivateTest", "", "Dev")))
    values = {"emotion": emotion, "pixels": pixels, "Usage": usage}
    return values, draw(st.integers(1, 3)), draw(st.lists(st.text(max_size=3), max_size=1))


@FUZZ
@given(
    st.lists(fer2013_rows(), min_size=1, max_size=6),
    st.permutations(["emotion", "pixels", "Usage"]),
)
def test_fer2013_csv_parser(rows: list[tuple[dict[str, str], int, list[str]]], header) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fer2013.csv"
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        for values, fields, extra in rows:
            writer.writerow(
                [values[name] for name in header[:fields]] + (extra if fields == 3 else [])
            )
        path.write_text(text.getvalue())
        try:
            strict = open_dataset(path, format="fer2013")
        except CorruptEntryError as err:
            assert f"{path}:" in str(err)  # names the file and line
            strict = None
        except ValueError as err:
            assert "is empty: no labelled faces" in str(err)
            strict = None
        try:
            lenient = open_dataset(path, format="fer2013", skip_corrupt=True)
        except ValueError as err:
            assert "is empty: no labelled faces" in str(err)
            return
        assert len(lenient) + len(lenient.skipped) == len(rows)
        assert strict is None or (len(strict) == len(rows) and not strict.skipped)
        for index in range(len(lenient)):
            face = lenient[index]
            assert face.image.shape == (48, 48) and face.image.dtype == np.uint8
            values, fields, _ = rows[int(face.path.rsplit(":", 1)[1]) - 2]  # line 1: the header
            assert "pixels" in header[:fields] and "emotion" in header[:fields]
            assert face.image.ravel().tolist() == [int(v) for v in values["pixels"].split()]
