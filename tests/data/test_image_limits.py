"""The pixel limit of image reading, shared by `feratt predict` and `feratt serve`: a file whose
header promises too many pixels is refused before its pixels are decoded."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from feratt.cli import main
from feratt.data.io import MAX_IMAGE_PIXELS, ImageTooLargeError, decode_image, read_image


def _png_header_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR for a width x height RGB image, then one tiny IDAT."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_header_over_the_limit_is_refused_without_decoding() -> None:
    big = _png_header_claiming(10_000, 8_000)  # 80 megapixels in 100 bytes
    assert len(big) < 200
    with pytest.raises(ImageTooLargeError, match=r"big\.png has 80,000,000 pixels \(10000x8000\)"):
        decode_image(big, "big.png")
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png has over 178,956,970 pixels"):
        decode_image(_png_header_claiming(20_000, 20_000), "bomb.png")
    with pytest.raises(ImageTooLargeError, match="over the limit of 1,000"):
        decode_image(_png_header_claiming(40, 40), "small.png", max_pixels=1_000)


def test_images_under_the_limit_decode_as_before(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (30, 40, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), image[:, :, ::-1])
    data = (tmp_path / "a.png").read_bytes()
    np.testing.assert_array_equal(decode_image(data, "a.png", max_pixels=1200), image[:, :, ::-1])
    with pytest.raises(ImageTooLargeError):
        decode_image(data, "a.png", max_pixels=1199)
    assert MAX_IMAGE_PIXELS >= 24_000_000  # a 24-megapixel camera photo still reads


def test_predict_skips_an_image_over_the_limit_naming_it(
    install_pretrained, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    install_pretrained()
    (tmp_path / "big.png").write_bytes(_png_header_claiming(10_000, 8_000))
    assert main(["predict", str(tmp_path / "big.png")]) == 1
    assert "big.png has 80,000,000 pixels" in capsys.readouterr().err
