"""Procedural faces and cluttered backgrounds: a labelled expression set that needs no download."""

from feratt.data.procedural.clutter import render_backgrounds
from feratt.data.procedural.expression_set import render_faces

__all__ = ["render_backgrounds", "render_faces"]
