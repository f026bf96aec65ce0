"""Data: native-layout loaders, face preparation, caching and subject-independent folds."""

from feratt.data.datasets import FaceDataset, RecordInfo, list_formats, open_dataset
from feratt.data.records import FaceRecord, PreparedFaces

__all__ = [
    "FaceDataset",
    "FaceRecord",
    "PreparedFaces",
    "RecordInfo",
    "list_formats",
    "open_dataset",
]
