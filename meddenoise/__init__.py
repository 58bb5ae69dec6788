"""meddenoise: DICOM-aware two-stage deep denoising for multimodal medical images.

The public API is exported lazily, so ``import meddenoise`` (and the command line) starts
without importing torch; the first use of a name imports the module that holds it.

Examples
--------
>>> import meddenoise
>>> meddenoise.available_models()
('nen', 'twn', 'two_stage')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from meddenoise._version import __version__

if TYPE_CHECKING:
    from meddenoise.api import (
        denoise,
        denoise_array,
        denoise_file,
        denoise_folder,
        denoise_series,
        load_model,
    )
    from meddenoise.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from meddenoise.device import resolve_device
    from meddenoise.errors import MeddenoiseError
    from meddenoise.metrics import compute_metrics
    from meddenoise.models import available_models, build_model
    from meddenoise.noise import add_noise, add_random_noise

_EXPORTS: dict[str, str] = {
    "denoise": "meddenoise.api",
    "denoise_array": "meddenoise.api",
    "denoise_file": "meddenoise.api",
    "denoise_folder": "meddenoise.api",
    "denoise_series": "meddenoise.api",
    "load_model": "meddenoise.api",
    "Checkpoint": "meddenoise.checkpoint",
    "load_checkpoint": "meddenoise.checkpoint",
    "save_checkpoint": "meddenoise.checkpoint",
    "resolve_device": "meddenoise.device",
    "MeddenoiseError": "meddenoise.errors",
    "compute_metrics": "meddenoise.metrics",
    "available_models": "meddenoise.models",
    "build_model": "meddenoise.models",
    "add_noise": "meddenoise.noise",
    "add_random_noise": "meddenoise.noise",
}

__all__ = [
    "Checkpoint",
    "MeddenoiseError",
    "__version__",
    "add_noise",
    "add_random_noise",
    "available_models",
    "build_model",
    "compute_metrics",
    "denoise",
    "denoise_array",
    "denoise_file",
    "denoise_folder",
    "denoise_series",
    "load_checkpoint",
    "load_model",
    "resolve_device",
    "save_checkpoint",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'meddenoise' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
