"""Stage I: the noise estimation network (NEN), and the ``nen`` ablation variant."""

from __future__ import annotations

import torch
from torch import nn

from meddenoise.models.base import Denoiser, DenoiserOutput, trunk_radius
from meddenoise.models.blocks import GatedTrunk


class NoiseEstimationNetwork(Denoiser):
    """Noise estimation network: 1x1 conv -> gated RRDB trunk -> 1x1 conv = noise.

    Used alone (registry name ``"nen"``) it denoises as ``clean = noisy - noise``.

    Parameters
    ----------
    channels : int
        Image channels (3: grey images are repeated to three channels).
    width : int
        Feature channels.
    growth : int
        Growth of the dense blocks.
    depth : int
        Number of gated RRDBs.
    res_scale : float
        Residual scaling of the dense blocks.
    negative_slope : float
        LeakyReLU slope.

    Examples
    --------
    >>> net = NoiseEstimationNetwork()
    >>> sum(p.numel() for p in net.parameters())
    283776
    """

    arch = "nen"

    def __init__(
        self,
        *,
        channels: int = 3,
        width: int = 32,
        growth: int = 8,
        depth: int = 3,
        res_scale: float = 0.2,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__(
            {
                "channels": channels,
                "width": width,
                "growth": growth,
                "depth": depth,
                "res_scale": res_scale,
                "negative_slope": negative_slope,
            }
        )
        self.head = nn.Conv2d(channels, width, 1, bias=False)
        self.trunk = GatedTrunk(
            width, growth, depth=depth, res_scale=res_scale, negative_slope=negative_slope
        )
        self.tail = nn.Conv2d(width, channels, 1, bias=False)

    @property
    def receptive_radius(self) -> int:
        """Pixels on each side of an output pixel that can change its value."""
        return trunk_radius(self.config["depth"])

    def estimate_noise(self, x: torch.Tensor) -> torch.Tensor:
        """Return the estimated noise of a batch ``(N, C, H, W)``."""
        out: torch.Tensor = self.tail(self.trunk(self.head(x)))
        return out

    def forward(self, x: torch.Tensor) -> DenoiserOutput:
        """Estimate the noise and subtract it."""
        noise = self.estimate_noise(x)
        return DenoiserOutput(noise=noise, clean=x - noise)
