"""Loaders for the facial-expression data sets, each reading its publisher's layout.

Importing the modules registers their formats; detection tries them in this order, the most
specific layouts first and the generic class-per-folder tree last.
"""

# isort: off
from feratt.data.datasets import ckplus, bu3dfe, jaffe, ferplus, fer2013  # noqa: F401
from feratt.data.datasets import rafdb, affectnet, folder  # noqa: F401

# isort: on
from feratt.data.datasets.base import FaceDataset, RecordInfo
from feratt.data.datasets.registry import (
    DatasetFormat,
    detect_format,
    list_formats,
    open_dataset,
    register_format,
)

__all__ = [
    "DatasetFormat",
    "FaceDataset",
    "RecordInfo",
    "detect_format",
    "list_formats",
    "open_dataset",
    "register_format",
]
