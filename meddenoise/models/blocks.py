"""Building blocks shared by the denoisers (DESIGN.md section 3).

All convolutions keep the spatial size (stride 1, "same" padding), so every block works
on any H x W. Tensors are ``(N, C, H, W)``.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualDenseBlock(nn.Module):
    """ESRGAN residual dense block: five 3x3 convolutions with dense connections.

    Parameters
    ----------
    width : int
        Channels in and out of the block.
    growth : int
        Channels added by each of the first four convolutions.
    res_scale : float
        The block returns ``out * res_scale + x``.
    negative_slope : float
        Slope of the LeakyReLU after the first four convolutions.
    """

    def __init__(
        self,
        width: int = 32,
        growth: int = 8,
        *,
        res_scale: float = 0.2,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(width + i * growth, growth, 3, padding=1) for i in range(4)
        )
        self.fuse = nn.Conv2d(width + 4 * growth, width, 3, padding=1)
        self.act = nn.LeakyReLU(negative_slope, inplace=True)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        features = [x]
        for conv in self.convs:
            features.append(self.act(conv(torch.cat(features, dim=1))))
        out: torch.Tensor = self.fuse(torch.cat(features, dim=1))
        return out * self.res_scale + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three :class:`ResidualDenseBlock` in a chain.

    Parameters
    ----------
    width, growth, res_scale, negative_slope
        As for :class:`ResidualDenseBlock`; ``res_scale`` also scales the outer residual.
    """

    def __init__(
        self,
        width: int = 32,
        growth: int = 8,
        *,
        res_scale: float = 0.2,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            *(
                ResidualDenseBlock(
                    width, growth, res_scale=res_scale, negative_slope=negative_slope
                )
                for _ in range(3)
            )
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        out: torch.Tensor = self.blocks(x)
        return out * self.res_scale + x


class GatedTrunk(nn.Module):
    """The body of both stages: RRDBs, each with a parallel 1x1 noise gate.

    Each step computes ``f = RRDB(f) + gate(f)`` where ``gate`` is a bias-free 1x1
    convolution.

    Parameters
    ----------
    width, growth, res_scale, negative_slope
        As for :class:`RRDB`.
    depth : int
        Number of gated RRDBs (3 in the paper).
    """

    def __init__(
        self,
        width: int = 32,
        growth: int = 8,
        *,
        depth: int = 3,
        res_scale: float = 0.2,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.rrdbs = nn.ModuleList(
            RRDB(width, growth, res_scale=res_scale, negative_slope=negative_slope)
            for _ in range(depth)
        )
        self.gates = nn.ModuleList(nn.Conv2d(width, width, 1, bias=False) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the trunk."""
        for rrdb, gate in zip(self.rrdbs, self.gates, strict=True):
            x = rrdb(x) + gate(x)
        return x


class NoiseAttention(nn.Module):
    """Self-guided noise attention block (NOB).

    A 3x3 convolution refines the noise features and another the image features; a
    spatial attention map, ``sigmoid(conv7x7([mean_c; max_c]))`` over the 64 concatenated
    channels, then weights the refined image features.

    Parameters
    ----------
    width : int
        Channels of each of the two inputs and of the output.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.noise_conv = nn.Conv2d(width, width, 3, padding=1)
        self.image_conv = nn.Conv2d(width, width, 3, padding=1)
        self.spatial = nn.Conv2d(2, 1, 7, padding=3, bias=False)

    def forward(self, image_features: torch.Tensor, noise_features: torch.Tensor) -> torch.Tensor:
        """Weight the image features by attention guided by the noise features."""
        image = self.image_conv(image_features)
        joint = torch.cat([self.noise_conv(noise_features), image], dim=1)
        pooled = torch.cat(
            [joint.mean(dim=1, keepdim=True), joint.amax(dim=1, keepdim=True)], dim=1
        )
        attention = torch.sigmoid(self.spatial(pooled))
        out: torch.Tensor = attention * image
        return out
