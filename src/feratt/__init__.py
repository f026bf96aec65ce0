"""feratt: Facial Expression Recognition with Attention Net (FERAtt) in modern PyTorch."""

from feratt.models import create_model, list_models

__version__ = "0.1.0"

__all__ = ["__version__", "create_model", "list_models"]
