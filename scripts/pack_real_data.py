"""Pack FER2013 (train, val), CK+48 and the background photos into one lossless file for a GPU run.

    PYTHONPATH=src python3 scripts/pack_real_data.py --out build/feratt-pack.npz

Faces stay at their native 48 px (preparing them is then the identity; `resize_prepared` makes
the model's 64 px crops exactly); backgrounds are the grey squares `load_backgrounds` makes,
shrunk to `--background-size` so that everything travels in one 64 MiB run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from feratt.data import open_dataset
from feratt.data.compositing import load_backgrounds
from feratt.data.pack import load_pack, save_pack
from feratt.data.preparation import prepare_faces

# Pack set name -> (folder under --data, split).
FACE_SETS = {
    "fer2013_train": ("fer2013", "train"),
    "fer2013_val": ("fer2013", "val"),
    "ckplus48": ("ckplus48", None),
}
NATIVE_SIZE = 48


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("build/feratt-pack.npz"))
    parser.add_argument(
        "--background-size", type=int, default=128, help="side of the grey background squares"
    )
    parser.add_argument("--sets", nargs="+", default=list(FACE_SETS), choices=list(FACE_SETS))
    parser.add_argument("--no-verify", action="store_true", help="skip the reload check")
    return parser.parse_args(argv)


def shrink(backgrounds: np.ndarray, size: int) -> np.ndarray:
    """(B, H, W) uint8 squares -> (B, size, size) by area averaging (never enlarged)."""
    if size >= backgrounds.shape[-1]:
        return backgrounds
    return np.stack(
        [cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA) for image in backgrounds]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    faces = {}
    for name in args.sets:
        folder, split = FACE_SETS[name]
        tick = time.perf_counter()
        dataset = open_dataset(args.data / folder, split=split)
        faces[name] = prepare_faces(dataset, size=NATIVE_SIZE, channels=1)
        print(f"{name}: {len(faces[name])} faces in {time.perf_counter() - tick:.1f} s")
    tick = time.perf_counter()
    squares = load_backgrounds(args.data / "backgrounds", channels=1).numpy()[:, 0]
    backgrounds = shrink(squares, args.background_size)
    print(f"backgrounds: {backgrounds.shape} in {time.perf_counter() - tick:.1f} s")

    tick = time.perf_counter()
    path = save_pack(args.out, backgrounds=backgrounds, **faces)
    raw = sum(p.faces.nbytes for p in faces.values()) + backgrounds.nbytes
    size = path.stat().st_size
    print(
        f"wrote {path}: {size / 2**20:.2f} MiB ({raw / 2**20:.1f} MiB of pixels, "
        f"{size / raw:.3f}) in {time.perf_counter() - tick:.1f} s"
    )
    if not args.no_verify:
        tick = time.perf_counter()
        pack = load_pack(path)  # checks every array's SHA-256
        assert set(pack.faces) == set(faces)
        print(f"reloaded and verified in {time.perf_counter() - tick:.1f} s")
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
