"""Stored values <-> physical units <-> the model's [0, 1] range, and back exactly.

The intensity contract (DESIGN.md section 5):

- stored -> physical per slice: ``stored * slope[k] + intercept[k]`` in float64;
- physical -> model: **one** linear mapping per series or volume (never per slice, so
  slices cannot flicker), recorded in :class:`IntensityMapping`:

  - CT: the fixed window [-1024, 3071] HU, so a model sees the same units everywhere;
  - 8-bit images (dermoscopy, microscopy, exported radiographs): the full 0..255 range;
  - everything else: the series' own range, from its minimum to its 99.99th percentile
    (padding pixels excluded);

- MONOCHROME1 is inverted for the model (bright = high for every input), grey images are
  repeated to three channels and come back as the mean of the three output channels;
- back to stored: clip the model output to [0, 1], invert the mapping, round, clip to the
  range the source can store (the pixels clipped are counted), cast to the stored dtype.

Pixels that the model could not see faithfully (padding, and values outside the mapping's
window, which were clipped on the way in) are written back with their original stored
values. Hence the law: with an identity model, every stored integer value is reproduced
exactly.

Examples
--------
>>> import numpy as np
>>> from meddenoise.image import MedicalImage
>>> ct = MedicalImage.from_array(
...     np.array([[0, 1024, 4095]], dtype=np.uint16), modality="CT", intercept=-1024
... )
>>> x, mapping = to_model(ct)
>>> mapping.kind, mapping.low, mapping.high
('ct', -1024.0, 3071.0)
>>> x.shape, x.dtype, round(float(x[0, 0, 0, 1]), 4)
((1, 3, 1, 3), dtype('float32'), 0.2501)
>>> stored, stats = from_model(x, ct, mapping)
>>> stored.tolist(), stats.clipped
([[[0, 1024, 4095]]], 0)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from meddenoise.errors import InputError
from meddenoise.image import MedicalImage

__all__ = [
    "CT_WINDOW",
    "IntensityMapping",
    "RestoreStats",
    "from_model",
    "plan_mapping",
    "to_model",
]

#: Hounsfield units mapped to 0 and 1 for CT.
CT_WINDOW: tuple[float, float] = (-1024.0, 3071.0)

#: Upper percentile of the series-range mapping (robust to a few hot pixels).
UPPER_PERCENTILE = 99.99

#: Most values looked at to plan a mapping (a regular subsample of bigger series).
_MAX_SAMPLES = 4_000_000

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class IntensityMapping:
    """A linear map from physical values to the model's range: ``low -> 0``, ``high -> 1``.

    Attributes
    ----------
    kind : {"ct", "fixed", "range"}
        How it was chosen: the CT window, a fixed 8-bit range, or the series' range.
    low, high : float
        Physical values mapped to 0 and 1.
    invert : bool
        MONOCHROME1: the model sees ``1 - value`` so that bright means high.
    """

    kind: str
    low: float
    high: float
    invert: bool = False

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or self.high <= self.low:
            raise InputError(f"bad intensity mapping [{self.low}, {self.high}]")

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for checkpoints and reports."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IntensityMapping:
        """Inverse of :meth:`to_dict`."""
        return cls(
            kind=str(data["kind"]),
            low=float(data["low"]),
            high=float(data["high"]),
            invert=bool(data.get("invert", False)),
        )


@dataclass(frozen=True)
class RestoreStats:
    """What :func:`from_model` did beyond the plain inverse mapping.

    Attributes
    ----------
    clipped : int
        Values outside the range the source can store, clipped to it.
    passed_through : int
        Pixels written back with their original stored value (padding, or outside the
        mapping's window).
    """

    clipped: int = 0
    passed_through: int = 0

    def __add__(self, other: RestoreStats) -> RestoreStats:
        return RestoreStats(
            self.clipped + other.clipped, self.passed_through + other.passed_through
        )


def plan_mapping(
    image: MedicalImage, *, ct_window: tuple[float, float] = CT_WINDOW
) -> IntensityMapping:
    """Choose the physical -> [0, 1] mapping of a whole series.

    Parameters
    ----------
    image : MedicalImage
        The series (all slices are considered, subsampled beyond a few million values).
    ct_window : tuple of float
        HU mapped to 0 and 1 when the modality is CT.

    Returns
    -------
    IntensityMapping
    """
    invert = image.photometric == "MONOCHROME1"
    if image.modality.upper() == "CT" and not image.is_color:
        return IntensityMapping("ct", float(ct_window[0]), float(ct_window[1]), invert)
    unit = bool(np.all(image.slope == 1.0) and np.all(image.intercept == 0.0))
    if unit and image.pixels.dtype == np.uint8:
        return IntensityMapping("fixed", 0.0, 255.0, invert)
    values = _sample_physical(image)
    if values.size == 0:
        raise InputError("image holds no pixel values outside its padding")
    low = float(values.min())
    high = float(np.percentile(values, UPPER_PERCENTILE))
    if high <= low:  # a flat or nearly flat image: widen to keep the mapping invertible
        high = float(values.max())
    if high <= low:
        high = low + 1.0
    return IntensityMapping("range", low, high, invert)


def to_model(
    image: MedicalImage,
    mapping: IntensityMapping | None = None,
    *,
    start: int = 0,
    stop: int | None = None,
) -> tuple[F32, IntensityMapping]:
    """Map slices ``start:stop`` to the model's input: float32 ``(n, 3, H, W)`` in [0, 1].

    Parameters
    ----------
    image : MedicalImage
        The source.
    mapping : IntensityMapping, optional
        The series' mapping; planned with :func:`plan_mapping` when not given. Pass the
        same mapping for every chunk of one series.
    start, stop : int
        The chunk of slices to convert (the whole series by default).

    Returns
    -------
    x : ndarray
        Channel-first float32; grey slices are repeated to three channels.
    mapping : IntensityMapping
        The mapping used, for :func:`from_model`.
    """
    if mapping is None:
        mapping = plan_mapping(image)
    x = _normalise(image.physical(start, stop), mapping)
    np.clip(x, 0.0, 1.0, out=x)
    if image.is_color:
        out = np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)
    else:
        out = np.repeat(x[:, None].astype(np.float32), 3, axis=1)
    return out, mapping


def from_model(
    output: npt.ArrayLike,
    image: MedicalImage,
    mapping: IntensityMapping,
    *,
    start: int = 0,
    stop: int | None = None,
) -> tuple[np.ndarray, RestoreStats]:
    """Map model output for slices ``start:stop`` back to stored values and dtype.

    Parameters
    ----------
    output : array-like
        ``(n, 3, H, W)`` model output (values outside [0, 1] are clipped).
    image : MedicalImage
        The source of these slices (for rescale, dtype, storable range, padding).
    mapping : IntensityMapping
        The mapping used by :func:`to_model`.
    start, stop : int
        Which slices of ``image`` the output belongs to.

    Returns
    -------
    stored : ndarray
        ``(n, H, W)`` or ``(n, H, W, 3)`` in the stored dtype.
    stats : RestoreStats
        Counts of clipped and passed-through values.
    """
    y = np.clip(np.asarray(output, dtype=np.float64), 0.0, 1.0)
    original = image.pixels[start:stop]
    expected = (original.shape[0], 3, *original.shape[1:3])
    if y.shape != expected:
        raise InputError(f"model output has shape {y.shape}, expected {expected}")
    y = y.transpose(0, 2, 3, 1) if image.is_color else y.mean(axis=1)
    if mapping.invert:
        y = 1.0 - y
    physical = y * (mapping.high - mapping.low) + mapping.low
    shape = (-1,) + (1,) * (physical.ndim - 1)
    slope = image.slope[start:stop].reshape(shape)
    intercept = image.intercept[start:stop].reshape(shape)
    stored = (physical - intercept) / slope
    dtype = image.pixels.dtype
    if np.issubdtype(dtype, np.integer):
        stored = np.rint(stored)
    lo, hi = image.value_range
    outside = (stored < lo) | (stored > hi)
    clipped = int(np.count_nonzero(outside))
    stored = np.clip(stored, lo, hi)

    keep = _pass_through_mask(image, mapping, start, stop)
    result = stored.astype(dtype)
    result[keep] = original[keep]
    clipped -= int(np.count_nonzero(outside & keep))
    return result, RestoreStats(clipped=clipped, passed_through=int(np.count_nonzero(keep)))


def _normalise(physical: F64, mapping: IntensityMapping) -> F64:
    x: F64 = (physical - mapping.low) / (mapping.high - mapping.low)
    if mapping.invert:
        x = 1.0 - x
    return x


def _pass_through_mask(
    image: MedicalImage, mapping: IntensityMapping, start: int, stop: int | None
) -> npt.NDArray[np.bool_]:
    """Pixels whose original value the model did not see: padding or out of the window."""
    physical = image.physical(start, stop)
    keep: npt.NDArray[np.bool_] = (physical < mapping.low) | (physical > mapping.high)
    if image.padding_value is not None:
        keep |= image.pixels[start:stop] == image.padding_value
    return keep


def _sample_physical(image: MedicalImage) -> F64:
    """Physical values of a regular subsample of the series, padding excluded."""
    n = image.n_slices
    per_slice = int(np.prod(image.pixels.shape[1:]))
    step = max(1, int(np.ceil(n * per_slice / _MAX_SAMPLES)))
    chunks = []
    for k in range(n):
        flat = image.pixels[k].reshape(-1)[(k % step) :: step]
        if image.padding_value is not None:
            flat = flat[flat != image.padding_value]
        chunks.append(flat.astype(np.float64) * image.slope[k] + image.intercept[k])
    values = np.concatenate(chunks) if chunks else np.empty(0)
    finite: F64 = values[np.isfinite(values)]
    return finite
