"""Atomic file writes: every checkpoint, model file, table and report goes through `atomic_write`.

The bytes go to a temporary file in the target's own folder (so the final rename never crosses a
file system), are flushed to the disk, and the file is then renamed over the target. A full disk,
a kill or an exception leaves the previous file intact and no partial file beside it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; a finished file gets the permissions open() would have given it.
_FILE_MODE = 0o666 & ~_umask()


def temp_path_pattern(path: str | Path) -> str:
    """Glob pattern of the temporary files `atomic_write` makes for `path` (in its folder)."""
    return f".{Path(path).name}.*{TEMP_SUFFIX}"


@contextmanager
def atomic_write(
    path: str | Path,
    mode: str = "w",
    *,
    keep_partial: bool = False,
    **open_options: Any,
) -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` for writing; rename it over `path` when the block ends.

    Args:
        path: the file to (re)place; its folder must exist.
        mode: ``"w"`` (text) or ``"wb"`` (binary).
        keep_partial: when the block raises, still put what was written in place (a table of the
            rows done before a failure); by default the temporary file is deleted and `path` keeps
            its previous content.
        open_options: passed to `open` (``newline``, ``encoding``).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes new files: mode 'w' or 'wb', got {mode!r}")
    path = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        try:
            with os.fdopen(fd, mode, **open_options) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            if not keep_partial:
                raise
            os.chmod(temp, _FILE_MODE)
            os.replace(temp, path)
            raise
        os.chmod(temp, _FILE_MODE)
        os.replace(temp, path)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(temp)
