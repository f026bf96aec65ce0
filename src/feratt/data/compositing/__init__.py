"""The synthetic face compositor of SPEC section 3, batched in torch (CPU or CUDA)."""

from feratt.data.compositing.backgrounds import load_backgrounds, split_backgrounds
from feratt.data.compositing.compositor import (
    AFFINE_RANGES,
    CompositeBatch,
    Compositor,
    CompositorConfig,
)
from feratt.data.compositing.warp import invert_affine

__all__ = [
    "AFFINE_RANGES",
    "CompositeBatch",
    "Compositor",
    "CompositorConfig",
    "invert_affine",
    "load_backgrounds",
    "split_backgrounds",
]
