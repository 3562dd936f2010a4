"""Stand-in ``torchvision.transforms`` (faultlens benchmark only)."""
from . import functional
from .transforms import *  # noqa: F401,F403
from .transforms import __all__ as _transforms_all

__all__ = list(_transforms_all) + ["functional"]
