"""The model loop: batches of equal tiles through the network, stitched on the output device.

All slices of a series share one tiling (:func:`~meddenoise.engine.tiling.plan_tiles`),
so tiles of several slices batch together. Tiles go to the model's device one batch at a
time and come back cropped to their cores, which are written into an output tensor on
``output_device`` (the CPU by default): accelerator memory holds one batch, whatever the
image size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from meddenoise.engine.tiling import Tile, plan_tiles
from meddenoise.errors import InputError
from meddenoise.models.base import Denoiser

__all__ = ["TilingConfig", "denoise_tensor"]

#: ``progress(done, total)``, called after each batch with counts of tiles.
Progress = Callable[[int, int], None]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class TilingConfig:
    """How an image is cut and batched.

    Attributes
    ----------
    tile : int
        Largest core side in pixels; images no larger run whole.
    margin : int or None
        Context around each core; ``None`` uses the model's receptive-field radius,
        the smallest margin for which tiled equals untiled.
    batch_size : int or None
        Tiles per forward pass; ``None`` picks 1 on a CPU (larger batches only add
        memory traffic there: docs/benchmarks.md) and 4 on an accelerator.
    """

    tile: int = 512
    margin: int | None = None
    batch_size: int | None = None

    def __post_init__(self) -> None:
        bad_batch = self.batch_size is not None and self.batch_size < 1
        if self.tile < 1 or bad_batch or (self.margin is not None and self.margin < 0):
            raise InputError(
                f"bad tiling: tile={self.tile}, margin={self.margin}, batch_size={self.batch_size}"
            )


def _batches(tiles: list[Tile], n_slices: int, batch_size: int) -> Iterator[list[tuple[int, Tile]]]:
    batch: list[tuple[int, Tile]] = []
    for index in range(n_slices):
        for tile in tiles:
            batch.append((index, tile))
            if len(batch) == batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def denoise_tensor(
    model: Denoiser,
    x: torch.Tensor,
    *,
    config: TilingConfig | None = None,
    precision: str = "fp32",
    output_device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> torch.Tensor:
    """Denoise a batch of images ``(N, C, H, W)`` in [0, 1] with a model, tile by tile.

    Parameters
    ----------
    model : Denoiser
        In eval mode, on the device to compute on.
    x : torch.Tensor
        Float input ``(N, C, H, W)`` on any device.
    config : TilingConfig, optional
        Tile size, margin and batch size.
    precision : {"fp32", "bf16", "fp16"}
        Arithmetic of the forward pass (autocast for bf16 and fp16); resolve ``auto``
        first with :func:`~meddenoise.engine.precision.resolve_precision`.
    output_device : torch.device or str
        Where the result is assembled.
    progress : callable, optional
        ``progress(done, total)`` in tiles, after each batch.

    Returns
    -------
    torch.Tensor
        The model's clean image, float32 ``(N, C, H, W)`` on ``output_device``, clamped to
        [0, 1].
    """
    cfg = config or TilingConfig()
    if x.ndim != 4:
        raise InputError(f"expected (N, C, H, W), got shape {tuple(x.shape)}")
    if precision not in ("fp32", "bf16", "fp16"):
        raise InputError(f"unknown precision {precision!r}")
    n, c, height, width = x.shape
    margin = model.receptive_radius if cfg.margin is None else cfg.margin
    tiles = plan_tiles(height, width, tile=cfg.tile, margin=margin)
    total = n * len(tiles)
    device = next(model.parameters()).device
    out = torch.empty((n, c, height, width), dtype=torch.float32, device=output_device)
    done = 0
    autocast = precision != "fp32"
    with torch.inference_mode():
        batch_size = cfg.batch_size or (1 if device.type == "cpu" else 4)
        for batch in _batches(tiles, n, batch_size):
            windows = torch.stack(
                [x[i, :, t.window[0] : t.window[1], t.window[2] : t.window[3]] for i, t in batch]
            )
            windows = windows.to(device, dtype=torch.float32).contiguous(
                memory_format=torch.channels_last
            )
            with torch.autocast(
                device.type, dtype=_DTYPES.get(precision, torch.bfloat16), enabled=autocast
            ):
                clean = model(windows).clean
            clean = clean.float().clamp_(0.0, 1.0).to(output_device)
            for k, (i, t) in enumerate(batch):
                y0, y1, x0, x1 = t.core_in_window
                cy0, cy1, cx0, cx1 = t.core
                out[i, :, cy0:cy1, cx0:cx1] = clean[k, :, y0:y1, x0:x1]
            done += len(batch)
            if progress is not None:
                progress(done, total)
    return out
