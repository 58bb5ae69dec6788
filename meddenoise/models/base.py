"""The small base class every denoiser derives from."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn


class DenoiserOutput(NamedTuple):
    """What a denoiser's forward pass returns.

    Attributes
    ----------
    noise : torch.Tensor
        The noise estimated by stage I, ``(N, C, H, W)``, in the units of the input.
    clean : torch.Tensor
        The denoised image, ``(N, C, H, W)``; not clamped (clamp at the edges).
    """

    noise: torch.Tensor
    clean: torch.Tensor


class Denoiser(nn.Module):
    """Base class: a module mapping a noisy batch to :class:`DenoiserOutput`.

    Subclasses set :attr:`arch` (their registry name), keep their constructor arguments in
    :attr:`config` (so a checkpoint can rebuild them) and report
    :attr:`receptive_radius`, the number of pixels on each side that influence an output
    pixel (the tiling margin must be at least that for tiled == untiled).
    """

    arch: ClassVar[str] = ""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(config)

    @property
    def receptive_radius(self) -> int:
        """Pixels on each side of an output pixel that can change its value."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> DenoiserOutput:
        """Denoise a batch ``(N, C, H, W)``."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> DenoiserOutput:
        """Run :meth:`forward` with hooks (typed: ``nn.Module.__call__`` returns Any)."""
        out: DenoiserOutput = super().__call__(x)
        return out


def trunk_radius(depth: int) -> int:
    """Receptive-field radius of a :class:`~meddenoise.models.blocks.GatedTrunk`.

    Each RRDB holds 3 dense blocks of 5 chained 3x3 convolutions, so each RRDB widens the
    field by 15 pixels on each side; the 1x1 gates widen nothing.

    >>> trunk_radius(3)
    45
    """
    return depth * 3 * 5
