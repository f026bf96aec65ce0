"""Atomic writes: every checkpoint, model file, table and report goes through `atomic_write`, and
every cache entry (a folder of arrays) through `atomic_folder`.

The bytes go to a temporary file in the target's own folder (so the final rename never crosses a
file system), are flushed to the disk, and the file is then renamed over the target. A full disk,
a kill or an exception leaves the previous file intact and no partial file beside it.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"
_WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO})


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp/mkdtemp create private entries; finished ones get the permissions open()/mkdir() give.
_FILE_MODE = 0o666 & ~_umask()
_FOLDER_MODE = 0o777 & ~_umask()


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
        except OSError as err:
            _place(temp, path, keep_partial)
            if err.filename is None and err.errno in _WRITE_ERRORS:  # a failed write names no file
                raise OSError(err.errno, err.strerror, str(path)) from err
            raise
        except BaseException:
            _place(temp, path, keep_partial)
            raise
        _place(temp, path, True)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(temp)


def _place(temp: str, path: Path, keep: bool) -> None:
    if keep:
        os.chmod(temp, _FILE_MODE)
        os.replace(temp, path)


@contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """A temporary folder beside `path` to fill; renamed to `path` when the block ends, deleted
    (with what it holds) when the block raises or the rename fails. `path` must not exist, or be
    an empty folder."""
    path = Path(path)
    temp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent))
    try:
        yield temp
        os.chmod(temp, _FOLDER_MODE)
        os.replace(temp, path)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def write_text(path: str | Path, text: str) -> Path:
    """`Path.write_text` through `atomic_write`."""
    with atomic_write(path) as handle:
        handle.write(text)
    return Path(path)


def torch_save(payload: Any, path: str | Path) -> Path:
    """`torch.save` through `atomic_write`, serialised in memory first: torch's zip writer turns
    a failed write (full disk) into an opaque RuntimeError, a plain file write into an OSError
    that names `path`."""
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getbuffer())
    return Path(path)
