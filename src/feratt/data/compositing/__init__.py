"""The synthetic face compositor of SPEC section 3, batched in torch (CPU or CUDA)."""

from feratt.data.compositing.backgrounds import (
    BACKGROUND_ROLES,
    background_roles,
    load_backgrounds,
    split_backgrounds,
)
from feratt.data.compositing.compositor import (
    AFFINE_RANGES,
    CompositeBatch,
    Compositor,
    CompositorConfig,
)
from feratt.data.compositing.warp import invert_affine

__all__ = [
    "AFFINE_RANGES",
    "BACKGROUND_ROLES",
    "CompositeBatch",
    "Compositor",
    "CompositorConfig",
    "background_roles",
    "invert_affine",
    "load_backgrounds",
    "split_backgrounds",
]
