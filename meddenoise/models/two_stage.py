"""The paper's full model: NEN (stage I) + noise attention + RN (stage II)."""

from __future__ import annotations

from typing import Any

import torch

from meddenoise.errors import InputError
from meddenoise.models.base import Denoiser, DenoiserOutput
from meddenoise.models.nen import NoiseEstimationNetwork
from meddenoise.models.reconstruction import ReconstructionNetwork

#: Images stage II may see beside the estimated noise (the first is the default).
STAGE_TWO_INPUTS = ("noisy", "estimate")
#: Model options that change how the stages are wired, not which weights exist.
WIRING_KEYS = ("stage_two_input",)


class TwoStageDenoiser(Denoiser):
    """Two-stage denoiser with self-guided noise attention (registry name ``"two_stage"``).

    Stage I estimates the noise ``n``; stage II sees an image and ``n`` and predicts a
    correction ``r``; the output is ``clean = x - n + r``. Stage II thus only has to fix
    what the subtraction of stage I's estimate got wrong (a decision the paper leaves
    open; see docs/architecture.md).

    Parameters
    ----------
    channels, width, growth, depth, res_scale, negative_slope
        As for :class:`~meddenoise.models.nen.NoiseEstimationNetwork`, shared by both
        stages.
    stage_two_input : {"noisy", "estimate"}
        The image stage II sees beside ``n``: the noisy input ``x`` (the first default
        models), or stage I's estimate ``x - n``, which it then refines. Both have the
        same parameters. Kept in :attr:`config` only when not ``"noisy"``, so checkpoints
        written before the option load unchanged.

    Examples
    --------
    >>> net = TwoStageDenoiser()
    >>> sum(p.numel() for p in net.nen.parameters()), sum(p.numel() for p in net.rn.parameters())
    (283776, 302466)
    >>> out = net(torch.zeros(1, 3, 5, 7))
    >>> tuple(out.noise.shape), tuple(out.clean.shape)
    ((1, 3, 5, 7), (1, 3, 5, 7))
    """

    arch = "two_stage"
    attention = True

    def __init__(
        self,
        *,
        channels: int = 3,
        width: int = 32,
        growth: int = 8,
        depth: int = 3,
        res_scale: float = 0.2,
        negative_slope: float = 0.2,
        stage_two_input: str = "noisy",
    ) -> None:
        if stage_two_input not in STAGE_TWO_INPUTS:
            raise InputError(
                f"stage_two_input must be one of {', '.join(STAGE_TWO_INPUTS)}, "
                f"not {stage_two_input!r}"
            )
        shared: dict[str, Any] = {
            "channels": channels,
            "width": width,
            "growth": growth,
            "depth": depth,
            "res_scale": res_scale,
            "negative_slope": negative_slope,
        }
        wiring = {} if stage_two_input == "noisy" else {"stage_two_input": stage_two_input}
        super().__init__({**shared, **wiring})
        self.stage_two_input = stage_two_input
        self.nen = NoiseEstimationNetwork(**shared)
        self.rn = ReconstructionNetwork(**shared, attention=self.attention)

    @property
    def receptive_radius(self) -> int:
        """Pixels on each side of an output pixel that can change its value."""
        return self.nen.receptive_radius + self.rn.receptive_radius

    def forward(self, x: torch.Tensor) -> DenoiserOutput:
        """Estimate the noise, then reconstruct the clean image."""
        noise = self.nen.estimate_noise(x)
        estimate = x - noise
        seen = x if self.stage_two_input == "noisy" else estimate
        clean = estimate + self.rn(seen, noise)
        return DenoiserOutput(noise=noise, clean=clean)
