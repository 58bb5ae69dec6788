"""Tiling geometry: cover an image with equal windows whose centres tile it exactly.

Pure geometry, no torch. An image of ``height x width`` is cut into *cores* of at most
``tile x tile`` pixels; each core is computed inside a *window* that adds ``margin``
pixels of context on every side. Windows are shifted inwards at the image borders
rather than clipped, so every window of an image has the same size and tiles batch
together.

Why the result equals the untiled one: a convolution-only network with receptive-field
radius ``R`` and zero padding computes an output pixel from the input pixels within
``R`` of it, padded with zeros beyond the image. Inside a window, each edge of the window
is either an edge of the image (the same zero padding as untiled) or at least ``margin``
pixels from every pixel of the core. With ``margin >= R`` the core's values are
therefore those of the untiled computation, up to float rounding.

Examples
--------
>>> tiles = plan_tiles(200, 517, tile=256, margin=94)
>>> len(tiles), tiles[0].window_shape
(3, (200, 444))
>>> [t.core for t in tiles]
[(0, 200, 0, 256), (0, 200, 256, 512), (0, 200, 512, 517)]
>>> [t.window for t in tiles]
[(0, 200, 0, 444), (0, 200, 73, 517), (0, 200, 73, 517)]
"""

from __future__ import annotations

from dataclasses import dataclass

from meddenoise.errors import InputError

__all__ = ["Tile", "plan_tiles"]


@dataclass(frozen=True)
class Tile:
    """One window and the core of it whose output is kept.

    Attributes
    ----------
    window : tuple of int
        ``(y0, y1, x0, x1)``: the input region fed to the model.
    core : tuple of int
        ``(y0, y1, x0, x1)``: the output region this tile provides, in image coordinates.
    """

    window: tuple[int, int, int, int]
    core: tuple[int, int, int, int]

    @property
    def window_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the window."""
        y0, y1, x0, x1 = self.window
        return y1 - y0, x1 - x0

    @property
    def core_in_window(self) -> tuple[int, int, int, int]:
        """The core in window coordinates: where to crop the model's output."""
        wy, _, wx, _ = self.window
        y0, y1, x0, x1 = self.core
        return y0 - wy, y1 - wy, x0 - wx, x1 - wx


def _axis(length: int, tile: int, margin: int) -> list[tuple[int, int, int, int]]:
    """Windows and cores along one axis: ``(w0, w1, c0, c1)``."""
    size = min(tile + 2 * margin, length)
    spans = []
    for c0 in range(0, length, tile):
        c1 = min(c0 + tile, length)
        w0 = min(max(c0 - margin, 0), length - size)
        spans.append((w0, w0 + size, c0, c1))
    return spans


def plan_tiles(height: int, width: int, *, tile: int, margin: int) -> list[Tile]:
    """Cover an image with equal-sized windows whose cores tile it without overlap.

    Parameters
    ----------
    height, width : int
        Image size (at least 1 x 1).
    tile : int
        Largest core side. A tile at least as large as the image gives a single window:
        the whole image.
    margin : int
        Context on each side of a core (at least the model's receptive-field radius for
        tiled == untiled).

    Returns
    -------
    list of Tile
        Row-major order; all windows have the same shape.

    Raises
    ------
    InputError
        For a non-positive size or tile, or a negative margin.
    """
    if height < 1 or width < 1:
        raise InputError(f"cannot tile an empty image of {height}x{width}")
    if tile < 1 or margin < 0:
        raise InputError(f"tile must be >= 1 and margin >= 0, got tile={tile}, margin={margin}")
    rows = _axis(height, tile, margin)
    cols = _axis(width, tile, margin)
    return [
        Tile(window=(wy0, wy1, wx0, wx1), core=(cy0, cy1, cx0, cx1))
        for wy0, wy1, cy0, cy1 in rows
        for wx0, wx1, cx0, cx1 in cols
    ]
