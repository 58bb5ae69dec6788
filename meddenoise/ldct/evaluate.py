"""Score low-dose CT denoising on held-out slices: the input, the start model, fine-tuned models.

Whole slices of paired series (:class:`meddenoise.ldct.dataset.PairedSeries`, already in
the model's range) are denoised by each model and compared with the full-dose reference:

- ``psnr``: PSNR in the CT window (peak = 4,095 HU, the model's range);
- ``ssim``: SSIM in the same range;
- ``rmse_hu``: RMSE in HU over the whole slice;
- ``rmse_object_hu``: RMSE in HU where the reference is not air (above -900 HU), so the
  empty field of view does not dilute the number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from meddenoise.intensity import CT_WINDOW
from meddenoise.ldct.dataset import PairedSeries
from meddenoise.metrics import psnr, ssim
from meddenoise.models.base import Denoiser

__all__ = ["LdctScore", "format_scores", "score_models"]

_HU_SPAN = CT_WINDOW[1] - CT_WINDOW[0]
_AIR_LIMIT = (-900.0 - CT_WINDOW[0]) / _HU_SPAN


@dataclass(frozen=True)
class LdctScore:
    """Mean scores of one method over the scored slices."""

    method: str
    slices: int
    psnr: float
    ssim: float
    rmse_hu: float
    rmse_object_hu: float


def score_models(
    series: list[PairedSeries],
    models: Mapping[str, Denoiser],
    *,
    which: str = "validation",
    tile: int = 512,
) -> list[LdctScore]:
    """Score the low-dose input and each model on the held-out (or all) slices.

    Parameters
    ----------
    series : list of PairedSeries
        The pairs.
    models : mapping of str to Denoiser
        Label -> model in eval mode on the CPU.
    which : {"validation", "all"}
        Slices to score.
    tile : int
        Tile size of inference.

    Returns
    -------
    list of LdctScore
        ``low dose`` first, then the models in the given order.
    """
    import torch

    from meddenoise.engine.inference import TilingConfig, denoise_tensor

    outputs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"low dose": []}
    outputs.update({label: [] for label in models})
    for s in series:
        indices = s.validation if which == "validation" else list(range(s.low.shape[0]))
        for k in indices:
            reference = s.full[k]
            outputs["low dose"].append((reference, s.low[k]))
            x = torch.from_numpy(np.repeat(s.low[k][None, None], 3, axis=1))
            for label, model in models.items():
                y = denoise_tensor(model, x, config=TilingConfig(tile=tile))
                outputs[label].append((reference, y[0].mean(dim=0).numpy()))
    return [_score(label, pairs) for label, pairs in outputs.items()]


def _score(label: str, pairs: list[tuple[np.ndarray, np.ndarray]]) -> LdctScore:
    values: dict[str, list[float]] = {"psnr": [], "ssim": [], "rmse": [], "object": []}
    for reference, test in pairs:
        ref = reference.astype(np.float64)
        out = test.astype(np.float64)
        values["psnr"].append(psnr(ref[None], out[None]))
        values["ssim"].append(ssim(ref[None], out[None]))
        error = (out - ref) * _HU_SPAN
        values["rmse"].append(float(np.sqrt(np.mean(error**2))))
        mask = ref > _AIR_LIMIT
        values["object"].append(float(np.sqrt(np.mean(error[mask] ** 2))) if mask.any() else 0.0)
    mean = {key: float(np.mean(v)) if v else float("nan") for key, v in values.items()}
    return LdctScore(label, len(pairs), mean["psnr"], mean["ssim"], mean["rmse"], mean["object"])


def format_scores(scores: list[LdctScore]) -> str:
    """Markdown table of scores."""
    lines = [
        "| method | slices | PSNR (dB) | SSIM | RMSE (HU) | RMSE in object (HU) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in scores:
        lines.append(
            f"| {s.method} | {s.slices} | {s.psnr:.2f} | {s.ssim:.4f} | "
            f"{s.rmse_hu:.2f} | {s.rmse_object_hu:.2f} |"
        )
    return "\n".join(lines)
