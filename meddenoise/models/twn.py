"""The ``twn`` ablation: two stages without the noise attention block."""

from __future__ import annotations

from meddenoise.models.two_stage import TwoStageDenoiser


class TwoStageWithoutAttention(TwoStageDenoiser):
    """Two stages joined by a sum of features instead of the noise attention block.

    Same constructor as :class:`~meddenoise.models.two_stage.TwoStageDenoiser`; it has
    18,594 parameters fewer (the attention block).

    Examples
    --------
    >>> sum(p.numel() for p in TwoStageWithoutAttention().parameters())
    567648
    """

    arch = "twn"
    attention = False
