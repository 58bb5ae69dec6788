"""The :class:`MedicalImage` that readers return and writers take, and its geometry.

One convention for every format (DESIGN.md sections 1 and 5):

- ``pixels`` holds the **stored** values, exactly as in the file, in the stored dtype, as
  a stack of 2-D slices: ``(N, H, W)`` for grey images or ``(N, H, W, C)`` for colour.
  ``N`` counts slices (a DICOM instance or frame, a NIfTI slice, a raster page); ``H``
  follows DICOM rows (top to bottom) and ``W`` DICOM columns (left to right).
- Physical values are ``stored * slope[k] + intercept[k]`` per slice ``k`` (DICOM rescale,
  NIfTI ``scl_slope``/``scl_inter``), computed in float64 only when needed.
- Geometry is in DICOM patient coordinates (LPS, millimetres); RAS exists only inside the
  NIfTI reader and writer.
- ``source`` holds whatever the writer of the same format needs to restore the file
  (headers, datasets, raster mode); compute code never looks inside it.

Examples
--------
>>> import numpy as np
>>> img = MedicalImage.from_array(np.zeros((4, 5), dtype=np.uint8))
>>> img.shape, img.is_color, img.n_slices
((1, 4, 5), False, 1)
>>> img.value_range
(0.0, 255.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from meddenoise.errors import InputError

__all__ = ["COLOR", "GREY", "Geometry", "MedicalImage", "dtype_range"]

#: Photometric interpretations inside the toolkit: colour images are always RGB here
#: (YBR and palette colour are converted on reading).
GREY = ("MONOCHROME1", "MONOCHROME2")
COLOR = ("RGB",)

F64 = npt.NDArray[np.float64]


def dtype_range(dtype: npt.DTypeLike) -> tuple[float, float]:
    """Return the smallest and largest value a dtype holds (floats: +-inf).

    >>> dtype_range(np.int16)
    (-32768.0, 32767.0)
    >>> dtype_range(np.float32)
    (-inf, inf)
    """
    dt = np.dtype(dtype)
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        return float(info.min), float(info.max)
    if dt == np.bool_:
        return 0.0, 1.0
    return -np.inf, np.inf


@dataclass(frozen=True)
class Geometry:
    """Where a stack of slices lies in patient space (LPS, millimetres).

    Attributes
    ----------
    positions : ndarray, shape (N, 3)
        Position of the centre of the first pixel (row 0, column 0) of each slice
        (DICOM ImagePositionPatient).
    row_direction : ndarray, shape (3,)
        Unit vector along a row, the direction of increasing column index (the first
        triplet of DICOM ImageOrientationPatient).
    column_direction : ndarray, shape (3,)
        Unit vector along a column, the direction of increasing row index (the second
        triplet).
    pixel_spacing : tuple of float
        ``(row spacing, column spacing)``: the distance between the centres of adjacent
        rows, then of adjacent columns (DICOM PixelSpacing order).
    slice_thickness : float or None
        Nominal slice thickness, where the source says.
    """

    positions: F64
    row_direction: F64
    column_direction: F64
    pixel_spacing: tuple[float, float]
    slice_thickness: float | None = None

    @property
    def normal(self) -> F64:
        """Unit slice normal: ``row_direction x column_direction``."""
        n: F64 = np.cross(self.row_direction, self.column_direction)
        unit: F64 = n / np.linalg.norm(n)
        return unit

    @property
    def slice_offsets(self) -> F64:
        """Position of each slice along the normal (mm)."""
        offsets: F64 = self.positions @ self.normal
        return offsets

    @property
    def slice_spacing(self) -> float | None:
        """Median distance between adjacent slices along the normal, or None for one slice."""
        if len(self.positions) < 2:
            return None
        return float(np.median(np.abs(np.diff(self.slice_offsets))))

    @property
    def direction(self) -> F64:
        """3x3 direction matrix whose columns are the row, column and normal directions.

        This is SimpleITK's ``GetDirection()`` (reshaped to 3x3) for an image whose x axis
        runs along a row.
        """
        d: F64 = np.stack([self.row_direction, self.column_direction, self.normal], axis=1)
        return d


@dataclass
class MedicalImage:
    """A stack of 2-D slices with stored values, intensity scaling, geometry and provenance.

    Attributes
    ----------
    pixels : ndarray
        Stored values, ``(N, H, W)`` (grey) or ``(N, H, W, C)`` (colour, C = 3), in the
        stored dtype.
    modality : str
        DICOM modality code (``"CT"``, ``"MR"``, ``"CR"``, ``"DX"``, ``"XC"``, ``"SM"``,
        ``"OT"``...) or the reader's ``modality`` hint for formats that do not say.
    slope, intercept : ndarray, shape (N,)
        Per-slice rescale: physical = stored * slope + intercept.
    photometric : str
        ``"MONOCHROME1"`` (bright = low value), ``"MONOCHROME2"`` or ``"RGB"``.
    value_range : tuple of float
        The smallest and largest value the source can store (from DICOM BitsStored and
        PixelRepresentation, else the dtype); writers clip to it.
    format : str
        ``"dicom"``, ``"nifti"``, ``"metaimage"``, ``"png"``, ``"jpeg"``, ``"tiff"`` or
        ``"array"``.
    geometry : Geometry or None
        Patient-space geometry, where the format has one.
    padding_value : float or None
        Stored value that marks pixels outside the scanned region (DICOM
        PixelPaddingValue); such pixels are written back unchanged.
    alpha : ndarray or None
        Raster alpha channel ``(N, H, W)``, kept and written back, never denoised.
    path : Path or None
        Where the image was read from.
    source : Any
        Format-specific information for the writer of the same format.
    metadata : dict
        Descriptive, non-identifying information (series description, units...).
    """

    pixels: np.ndarray
    modality: str
    slope: F64
    intercept: F64
    photometric: str
    value_range: tuple[float, float]
    format: str
    geometry: Geometry | None = None
    padding_value: float | None = None
    alpha: np.ndarray | None = None
    path: Path | None = None
    source: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.pixels.ndim not in (3, 4):
            raise InputError(f"pixels must be (N, H, W) or (N, H, W, C), got {self.pixels.shape}")
        n = self.pixels.shape[0]
        self.slope = np.broadcast_to(np.asarray(self.slope, dtype=np.float64), (n,)).copy()
        self.intercept = np.broadcast_to(np.asarray(self.intercept, dtype=np.float64), (n,)).copy()
        if self.photometric not in GREY + COLOR:
            raise InputError(f"unsupported photometric interpretation {self.photometric!r}")
        if (self.photometric in COLOR) != (self.pixels.ndim == 4):
            raise InputError(
                f"photometric {self.photometric} does not fit pixels of shape {self.pixels.shape}"
            )
        if np.any(self.slope == 0) or not np.all(np.isfinite(self.slope)):
            raise InputError("rescale slope must be finite and non-zero")

    @classmethod
    def from_array(
        cls,
        pixels: npt.ArrayLike,
        *,
        modality: str = "OT",
        photometric: str | None = None,
        slope: float = 1.0,
        intercept: float = 0.0,
    ) -> MedicalImage:
        """Wrap an in-memory array: ``(H, W)``, ``(H, W, 3)``, ``(N, H, W)`` or ``(N, H, W, 3)``.

        A trailing axis of 3 is read as colour; the value range is the dtype's.
        """
        arr = np.asarray(pixels)
        if photometric is None:
            color = arr.ndim in (3, 4) and arr.shape[-1] == 3
        else:
            color = photometric in COLOR
        if arr.ndim == 2 or (arr.ndim == 3 and color):
            arr = arr[None]
        if photometric is None:
            photometric = "RGB" if color else "MONOCHROME2"
        return cls(
            pixels=arr,
            modality=modality,
            slope=np.full(arr.shape[0], slope),
            intercept=np.full(arr.shape[0], intercept),
            photometric=photometric,
            value_range=dtype_range(arr.dtype),
            format="array",
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`pixels`."""
        return tuple(self.pixels.shape)

    @property
    def n_slices(self) -> int:
        """Number of 2-D slices."""
        return int(self.pixels.shape[0])

    @property
    def is_color(self) -> bool:
        """True for RGB images."""
        return self.photometric in COLOR

    def physical(self, start: int = 0, stop: int | None = None) -> F64:
        """Physical values of slices ``start:stop`` in float64 (one chunk, not the volume)."""
        chunk = self.pixels[start:stop].astype(np.float64)
        sl = self.slope[start:stop]
        ic = self.intercept[start:stop]
        shape = (-1,) + (1,) * (chunk.ndim - 1)
        out: F64 = chunk * sl.reshape(shape) + ic.reshape(shape)
        return out

    def describe(self) -> dict[str, Any]:
        """Non-identifying summary for ``meddenoise info`` and reports (no patient data)."""
        info: dict[str, Any] = {
            "format": self.format,
            "modality": self.modality,
            "slices": self.n_slices,
            "rows": int(self.pixels.shape[1]),
            "columns": int(self.pixels.shape[2]),
            "photometric": self.photometric,
            "dtype": str(self.pixels.dtype),
            "storable range": self.value_range,
        }
        if np.all(self.slope == self.slope[0]) and np.all(self.intercept == self.intercept[0]):
            info["rescale"] = (float(self.slope[0]), float(self.intercept[0]))
        else:
            info["rescale"] = "per slice"
        if self.padding_value is not None:
            info["padding value"] = self.padding_value
        if self.alpha is not None:
            info["alpha"] = True
        if self.geometry is not None:
            geo = self.geometry
            info["pixel spacing (mm)"] = tuple(round(v, 6) for v in geo.pixel_spacing)
            if geo.slice_spacing is not None:
                info["slice spacing (mm)"] = round(geo.slice_spacing, 6)
            info["origin (LPS, mm)"] = tuple(round(float(v), 4) for v in geo.positions[0])
        info.update(self.metadata)
        return info

    def with_pixels(self, pixels: np.ndarray) -> MedicalImage:
        """Return a copy with other stored values of the same shape and dtype."""
        if pixels.shape != self.pixels.shape or pixels.dtype != self.pixels.dtype:
            raise InputError(
                f"new pixels {pixels.shape} {pixels.dtype} do not match "
                f"{self.pixels.shape} {self.pixels.dtype}"
            )
        return replace(self, pixels=pixels)
