"""The FERAtt model family; importing this package registers the built-in model builders."""

from feratt.models._registry import create_model, list_models, register_model
from feratt.models.attention import AttentionUNet
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
from feratt.models.reconstruction import FeatureExtractor, ReconstructionHead
from feratt.models.stn import LocalisationNet

__all__ = [
    "AttentionUNet",
    "FERAtt",
    "FERAttOutput",
    "FeatureExtractor",
    "LocalisationNet",
    "PreActResNet",
    "ReconstructionHead",
    "ResNet34Encoder",
    "create_model",
    "feratt_cls",
    "feratt_rep_cls",
    "feratt_rep_cls_stn",
    "list_models",
    "preactresnet18",
    "register_model",
]
