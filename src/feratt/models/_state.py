"""Comparing a state dict against a module's, for error messages that name the culprits."""

from __future__ import annotations

from collections.abc import Mapping

import torch


def describe_mismatch(
    expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]
) -> str:
    """Missing, unexpected and wrongly shaped keys of `given` (first 5 of each); "" if none."""
    missing = sorted(expected.keys() - given.keys())
    unexpected = sorted(given.keys() - expected.keys())
    wrong = sorted(
        f"{k}: {tuple(given[k].shape)} != {tuple(expected[k].shape)}"
        for k in expected.keys() & given.keys()
        if given[k].shape != expected[k].shape
    )
    return "; ".join(
        f"{label} ({len(items)}): {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", wrong),
        )
        if items
    )
