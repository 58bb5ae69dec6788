"""Stage II: the reconstruction network (RN)."""

from __future__ import annotations

import torch
from torch import nn

from meddenoise.models.base import trunk_radius
from meddenoise.models.blocks import GatedTrunk, NoiseAttention


class ReconstructionNetwork(nn.Module):
    """Reconstruction network: predicts a correction from the noisy image and the noise.

    An image (the noisy image, or stage I's estimate: the two-stage model's
    ``stage_two_input``) and the estimated noise each pass a bias-free 1x1 convolution to
    ``width`` channels; the two are joined by the noise attention block
    (:class:`~meddenoise.models.blocks.NoiseAttention`) or, without it, by a sum; a gated
    RRDB trunk and a 1x1 convolution give a correction in image units.

    Parameters
    ----------
    channels, width, growth, depth, res_scale, negative_slope
        As for :class:`~meddenoise.models.nen.NoiseEstimationNetwork`.
    attention : bool
        Join the two inputs with the noise attention block (the paper's model) or with a
        plain sum (the ``twn`` ablation).
    """

    def __init__(
        self,
        *,
        channels: int = 3,
        width: int = 32,
        growth: int = 8,
        depth: int = 3,
        res_scale: float = 0.2,
        negative_slope: float = 0.2,
        attention: bool = True,
    ) -> None:
        super().__init__()
        self.image_head = nn.Conv2d(channels, width, 1, bias=False)
        self.noise_head = nn.Conv2d(channels, width, 1, bias=False)
        self.attention = NoiseAttention(width) if attention else None
        self.trunk = GatedTrunk(
            width, growth, depth=depth, res_scale=res_scale, negative_slope=negative_slope
        )
        self.tail = nn.Conv2d(width, channels, 1, bias=False)
        # The attention's 3x3 image conv (1) and its 7x7 spatial conv (3) widen the field.
        self.receptive_radius = trunk_radius(depth) + (4 if attention else 0)

    def forward(self, image: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Return the correction to add to ``noisy - noise``.

        ``image`` is the noisy image or stage I's estimate (the two-stage model's
        ``stage_two_input``).
        """
        image_features = self.image_head(image)
        noise_features = self.noise_head(noise)
        if self.attention is not None:
            features = self.attention(image_features, noise_features)
        else:
            features = image_features + noise_features
        out: torch.Tensor = self.tail(self.trunk(features))
        return out
