"""Model registry: architecture names to classes, without importing torch.

The registry is an explicit table of ``"module:Class"`` strings, so listing the models
(``meddenoise models``, ``--help``) costs no torch import; :func:`build_model` imports the
module of the one asked for.

Examples
--------
>>> available_models()
('nen', 'twn', 'two_stage')
>>> net = build_model("two_stage")
>>> type(net).__name__
'TwoStageDenoiser'
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

from meddenoise.errors import InputError, UnknownModelError

if TYPE_CHECKING:
    from meddenoise.models.base import Denoiser

__all__ = ["MODELS", "available_models", "build_model", "model_class"]

MODELS: dict[str, str] = {
    "nen": "meddenoise.models.nen:NoiseEstimationNetwork",
    "twn": "meddenoise.models.twn:TwoStageWithoutAttention",
    "two_stage": "meddenoise.models.two_stage:TwoStageDenoiser",
}


def available_models() -> tuple[str, ...]:
    """Return the registered architecture names."""
    return tuple(MODELS)


def model_class(name: str) -> type[Denoiser]:
    """Return the class registered under ``name``.

    Raises
    ------
    UnknownModelError
        If ``name`` is not registered; the message lists the valid names.
    """
    try:
        target = MODELS[name]
    except KeyError:
        valid = ", ".join(MODELS)
        raise UnknownModelError(f"unknown model architecture {name!r}; valid: {valid}") from None
    module_name, _, class_name = target.partition(":")
    cls: type[Denoiser] = getattr(importlib.import_module(module_name), class_name)
    return cls


def build_model(name: str, **config: Any) -> Denoiser:
    """Build an untrained model by registry name.

    Parameters
    ----------
    name : str
        A name from :func:`available_models`.
    **config
        Constructor arguments (``width``, ``growth``, ``depth``...); the defaults are the
        paper's configuration.

    Returns
    -------
    Denoiser
        The model with freshly initialised weights, in training mode, on the CPU.

    Raises
    ------
    UnknownModelError
        For a name that is not registered.
    meddenoise.errors.InputError
        For a configuration key the architecture does not take.
    """
    cls = model_class(name)
    try:
        inspect.signature(cls).bind(**config)
    except TypeError as exc:
        raise InputError(f"bad configuration for model {name!r}: {exc}") from None
    return cls(**config)
