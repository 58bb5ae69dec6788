"""What a QA report shows of a series: display windows, representative slices, panels.

Conventions: every function takes **physical** values (``stored * slope + intercept``,
Hounsfield units for CT) as float64 arrays, ``(H, W)`` for grey slices or ``(H, W, 3)``
for RGB, and returns 8-bit display images of the same layout.

- Before and after are shown through **one** window chosen on the input: CT soft tissue
  (W400/L40 in HU) for CT, else the input's 1st to 99th percentile.
- The difference is ``after - before``, mid-grey at 0, black and white at minus and plus
  a half-width taken from the 99th percentile of ``|after - before|``.
- Panels are at most :data:`MAX_SIDE` pixels on their longer side, with the physical
  aspect ratio of the pixels where the spacing is known.

Examples
--------
>>> import numpy as np
>>> window = choose_window(np.array([-1000.0, 0.0, 80.0]), hu=True)
>>> window.low, window.high
(-160.0, 240.0)
>>> render_slice(np.array([[-500.0, 40.0, 500.0]]), window).tolist()
[[0, 128, 255]]
>>> choose_slices([0.0, 0.5, 0.5, 0.5, 0.0, 0.5, 0.5, 0.0])
[2, 3, 5]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "CT_SOFT_TISSUE",
    "MAX_SIDE",
    "SlicePanel",
    "Window",
    "choose_slices",
    "choose_window",
    "difference_half_width",
    "display_size",
    "render_difference",
    "render_slice",
    "resize_panel",
    "slice_content",
]

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

#: CT soft tissue window: (level, width) in HU.
CT_SOFT_TISSUE: tuple[float, float] = (40.0, 400.0)

#: Percentiles of the input that bound the window of other images.
PERCENTILES: tuple[float, float] = (1.0, 99.0)

#: Longest side of an embedded panel, in pixels.
MAX_SIDE = 512

#: Where in the stack the representative slices are taken (fractions of the stack).
SLICE_FRACTIONS: tuple[float, ...] = (0.25, 0.5, 0.75)

#: A slice with less than this share of pixels above the window's bottom is near-empty.
MIN_CONTENT = 0.02


@dataclass(frozen=True)
class Window:
    """A linear display window: ``low`` shows black, ``high`` white.

    Attributes
    ----------
    low, high : float
        Physical values at black and white.
    label : str
        How it was chosen, for the report.
    """

    low: float
    high: float
    label: str


@dataclass(frozen=True)
class SlicePanel:
    """One representative slice: before, after and difference, ready to embed.

    Attributes
    ----------
    index : int
        Slice index in the stack (0-based).
    before, after, difference : ndarray of uint8
        Display images, ``(h, w)`` or ``(h, w, 3)``.
    """

    index: int
    before: U8
    after: U8
    difference: U8


def choose_window(values: npt.ArrayLike, *, hu: bool = False) -> Window:
    """Choose the window of a series from a sample of its input's physical values.

    Parameters
    ----------
    values : array-like
        Physical values of the input (padding excluded), any shape.
    hu : bool
        The values are Hounsfield units (CT): the soft tissue window W400/L40.

    Returns
    -------
    Window
    """
    if hu:
        level, width = CT_SOFT_TISSUE
        return Window(level - width / 2, level + width / 2, "CT soft tissue, W400/L40 (HU)")
    finite = np.asarray(values, dtype=np.float64).ravel()
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return Window(0.0, 1.0, "no finite values")
    low, high = (float(v) for v in np.percentile(finite, PERCENTILES))
    if high <= low:  # a flat input: widen to its full range, else to one unit
        low, high = float(finite.min()), float(finite.max())
    if high <= low:
        high = low + 1.0
    return Window(low, high, "1st to 99th percentile of the input")


def slice_content(physical: F64, window: Window) -> float:
    """Return the share of a slice's pixels above the bottom 5 % of the window."""
    threshold = window.low + 0.05 * (window.high - window.low)
    values = physical.mean(axis=-1) if physical.ndim == 3 else physical
    return float(np.mean(values > threshold)) if values.size else 0.0


def choose_slices(
    content: Sequence[float],
    *,
    fractions: Sequence[float] = SLICE_FRACTIONS,
    min_content: float = MIN_CONTENT,
) -> list[int]:
    """Pick representative slices: at the given fractions of the stack, skipping empty ones.

    Each target index moves to the nearest slice (the one toward the centre on a tie)
    whose content reaches ``min_content`` and that was not picked yet; when none is left
    the target is dropped. A stack without any such slice keeps the targets.

    Parameters
    ----------
    content : sequence of float
        :func:`slice_content` of every slice, in stack order.
    fractions : sequence of float
        Positions in the stack, 0 the first slice and 1 the last.
    min_content : float
        Slices below it are near-empty.

    Returns
    -------
    list of int
        Sorted, distinct slice indices (all slices of a stack no longer than the list
        of fractions).
    """
    n = len(content)
    if n <= len(fractions):
        return list(range(n))
    centre = (n - 1) / 2
    targets = [round(f * (n - 1)) for f in fractions]
    if not any(c >= min_content for c in content):
        return sorted(set(targets))
    chosen: list[int] = []
    for target in targets:
        order = sorted(range(n), key=lambda k: (abs(k - target), abs(k - centre)))
        pick = next((k for k in order if content[k] >= min_content and k not in chosen), None)
        if pick is not None:
            chosen.append(pick)
    return sorted(chosen)


def render_slice(physical: F64, window: Window, *, invert: bool = False) -> U8:
    """Map a slice through a window to 8 bits (``invert`` for MONOCHROME1)."""
    scaled = (physical - window.low) / (window.high - window.low)
    if invert:
        scaled = 1.0 - scaled
    return _to_u8(scaled)


def difference_half_width(differences: Sequence[F64], *, percentile: float = 99.0) -> float:
    """Half-width of the difference window: a percentile of ``|after - before|``."""
    if not differences:
        return 1.0
    pooled = np.concatenate([np.abs(d).ravel() for d in differences])
    pooled = pooled[np.isfinite(pooled)]
    if pooled.size == 0:
        return 1.0
    value = float(np.percentile(pooled, percentile))
    if value <= 0.0:  # fewer than 1 % of the pixels changed: use the largest change
        value = float(pooled.max())
    return value if value > 0.0 else 1.0


def render_difference(difference: F64, half_width: float) -> U8:
    """Show ``after - before`` with 0 at mid-grey and +-``half_width`` at white and black."""
    return _to_u8(0.5 + difference / (2.0 * half_width))


def display_size(
    height: int, width: int, *, spacing: tuple[float, float] | None = None, max_side: int = MAX_SIDE
) -> tuple[int, int]:
    """Return ``(h, w)`` of a panel: the physical aspect ratio, no side above ``max_side``.

    >>> display_size(660, 550)
    (512, 427)
    >>> display_size(100, 100, spacing=(2.0, 1.0))
    (200, 100)
    """
    h = float(height)
    if spacing is not None and spacing[0] > 0 and spacing[1] > 0:
        h = height * spacing[0] / spacing[1]
    scale = min(1.0, max_side / max(h, float(width)))
    return max(1, round(h * scale)), max(1, round(width * scale))


def resize_panel(image: U8, size: tuple[int, int]) -> U8:
    """Resample a display image to ``(h, w)`` (box filter when shrinking)."""
    from PIL import Image

    if image.shape[:2] == size:
        return image
    pil = Image.fromarray(image)
    shrink = size[0] * size[1] < image.shape[0] * image.shape[1]
    resample = Image.Resampling.BOX if shrink else Image.Resampling.BICUBIC
    resized: U8 = np.asarray(pil.resize((size[1], size[0]), resample), dtype=np.uint8)
    return resized


def _to_u8(unit: F64) -> U8:
    clean = np.nan_to_num(unit, nan=0.0, posinf=1.0, neginf=0.0)
    out: U8 = np.rint(np.clip(clean, 0.0, 1.0) * 255.0).astype(np.uint8)
    return out
