"""Parameter and multiply-accumulate counts of a model, per stage.

Multiply-accumulates are counted as the paper counts them: for every convolution, its
weight count times its output pixels (biases, activations, the attention's pooling and
element-wise operations are not counted).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from meddenoise.models.base import Denoiser


@dataclass(frozen=True)
class StageSummary:
    """Size and cost of one part of a model.

    Attributes
    ----------
    name : str
        ``"NEN"``, ``"NOB"``, ``"RN"`` or ``"total"``. The NOB is part of the RN and
        counted in both its own row and the RN's.
    parameters : int
        Trainable parameters.
    macs : int
        Multiply-accumulates for one image of the size summarised.
    """

    name: str
    parameters: int
    macs: int


def summarize_model(model: Denoiser, *, height: int = 256, width: int = 256) -> list[StageSummary]:
    """Count parameters and multiply-accumulates of each stage for one image.

    Parameters
    ----------
    model : Denoiser
        A registered architecture.
    height, width : int
        Size of the image the multiply-accumulates are counted for.

    Returns
    -------
    list of StageSummary
        One row per stage present (NEN, NOB, RN), then the total.

    Examples
    --------
    >>> from meddenoise.models import build_model
    >>> rows = summarize_model(build_model("two_stage"), height=256, width=256)
    >>> [(r.name, r.parameters) for r in rows]
    [('NEN', 283776), ('NOB', 18594), ('RN', 302466), ('total', 586242)]
    >>> f"{rows[-1].macs / 1e9:.2f}"
    '38.34'
    """
    macs: dict[str, int] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(_mac_hook(name, macs)))
    channels = int(model.config.get("channels", 3))
    try:
        with torch.inference_mode():
            device = next(model.parameters()).device
            model(torch.zeros(1, channels, height, width, device=device))
    finally:
        for handle in handles:
            handle.remove()

    parts = {"NEN": "nen.", "NOB": "rn.attention.", "RN": "rn."}
    if not hasattr(model, "nen"):
        parts = {"NEN": ""}
    rows = []
    for label, prefix in parts.items():
        params = sum(p.numel() for n, p in model.named_parameters() if n.startswith(prefix))
        if params:
            stage_macs = sum(m for n, m in macs.items() if n.startswith(prefix))
            rows.append(StageSummary(label, params, stage_macs))
    total_params = sum(p.numel() for p in model.parameters())
    rows.append(StageSummary("total", total_params, sum(macs.values())))
    return rows


def _mac_hook(name: str, macs: dict[str, int]):  # type: ignore[no-untyped-def]  # torch hook signature
    def hook(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        assert isinstance(module, nn.Conv2d)
        macs[name] = macs.get(name, 0) + module.weight.numel() * output.shape[-2] * output.shape[-1]

    return hook
