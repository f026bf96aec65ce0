"""The FERAtt model family; importing this package registers the built-in model builders."""

from feratt.models.attention import AttentionUNet
from feratt.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from feratt.models.encoder import ResNet34Encoder
from feratt.models.feratt import (
    FERAtt,
    feratt_cls,
    feratt_rep_cls,
    feratt_rep_cls_stn,
    preactresnet18,
)
from feratt.models.output import FERAttOutput
from feratt.models.preactresnet import PreActResNet
from feratt.models.pretrained import PretrainedWeightsMissing, load_pretrained
from feratt.models.reconstruction import FeatureExtractor, ReconstructionHead
from feratt.models.stn import LocalisationNet

__all__ = [
    "AttentionUNet",
    "Checkpoint",
    "FERAtt",
    "FERAttOutput",
    "FeatureExtractor",
    "LocalisationNet",
    "PreActResNet",
    "PretrainedWeightsMissing",
    "ReconstructionHead",
    "ResNet34Encoder",
    "feratt_cls",
    "feratt_rep_cls",
    "feratt_rep_cls_stn",
    "load_checkpoint",
    "load_pretrained",
    "preactresnet18",
    "save_checkpoint",
]
