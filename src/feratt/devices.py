"""`torch_device`: a user's device string checked against this machine, so that a typo or a
missing GPU is a one-line error naming the value instead of a torch traceback."""

from __future__ import annotations

import torch


def torch_device(device: str | torch.device | None, key: str = "--device") -> torch.device:
    """``auto`` / None -> the GPU when there is one, else the CPU; anything else must name a
    device this machine has (raises ValueError naming `key` and the value otherwise)."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"{key} {device!r} is not a device; use auto, cpu, cuda, cuda:N or mps"
        ) from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{key} {device!r}: this machine has no CUDA device; use cpu")
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"{key} {device!r}: only {count} CUDA device(s), cuda:0-{count - 1}")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{key} {device!r}: MPS is not available on this machine; use cpu")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{key} {device!r}: unsupported device type; use cpu, cuda or mps")
    return parsed
