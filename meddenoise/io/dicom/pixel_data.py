"""The pixel module of a derived instance: new stored values, native little-endian.

:func:`set_pixel_data` writes the frames of one instance into its (derived) dataset as
uncompressed PixelData in the source's BitsAllocated, clipping values outside the range
of BitsStored and PixelRepresentation. Colour is written as interleaved RGB
(PlanarConfiguration 0): YBR sources become RGB, palette colour sources become 3-sample
RGB without their lookup tables (8-bit where the table entries are 8-bit colours). Grey
images keep MONOCHROME1 or MONOCHROME2. A source stored with a lossy transfer syntax
stays marked as lossy (LossyImageCompression "01").

Examples
--------
>>> ds = Dataset()
>>> ds.BitsStored, ds.PixelRepresentation = 12, 1
>>> stored_range(ds)
(-2048, 2047)
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import (
    HEVCM10P51,
    HEVCMP51,
    HTJ2K,
    JPEG2000,
    JPEG2000MC,
    MPEG2MPHL,
    MPEG2MPHLF,
    MPEG2MPML,
    MPEG2MPMLF,
    MPEG4HP41,
    MPEG4HP41BD,
    MPEG4HP41BDF,
    MPEG4HP41F,
    MPEG4HP42STEREO,
    MPEG4HP42STEREOF,
    MPEG4HP422D,
    MPEG4HP422DF,
    MPEG4HP423D,
    MPEG4HP423DF,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSNearLossless,
)

from meddenoise.errors import InputError

__all__ = [
    "LOSSY_METHODS",
    "PALETTE_KEYWORDS",
    "mark_lossy",
    "output_dtype",
    "palette_rgb_to_8bit",
    "set_pixel_data",
    "set_series_extremes",
    "stored_range",
]

#: Transfer syntaxes that may be lossy, with their LossyImageCompressionMethod term.
LOSSY_METHODS: dict[str, str] = {
    JPEGBaseline8Bit: "ISO_10918_1",
    JPEGExtended12Bit: "ISO_10918_1",
    JPEGLSNearLossless: "ISO_14495_1",
    JPEG2000: "ISO_15444_1",
    JPEG2000MC: "ISO_15444_2",
    HTJ2K: "ISO_15444_15",
    **dict.fromkeys((MPEG2MPML, MPEG2MPMLF, MPEG2MPHL, MPEG2MPHLF), "ISO_13818_2"),
    **dict.fromkeys(
        (
            MPEG4HP41,
            MPEG4HP41F,
            MPEG4HP41BD,
            MPEG4HP41BDF,
            MPEG4HP422D,
            MPEG4HP422DF,
            MPEG4HP423D,
            MPEG4HP423DF,
            MPEG4HP42STEREO,
            MPEG4HP42STEREOF,
        ),
        "ISO_14496_10",
    ),
    HEVCMP51: "ISO_23008_2",
    HEVCM10P51: "ISO_23008_2",
}

#: Transfer syntaxes that are lossless or lossy: trust the source's own "00".
_MAYBE_LOSSLESS = frozenset({JPEG2000, JPEG2000MC, HTJ2K})

#: Palette colour attributes, dropped when a palette image is written as RGB.
PALETTE_KEYWORDS = (
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData",
    "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData",
    "PaletteColorLookupTableUID",
)

#: Encapsulation leftovers with no meaning in native pixel data.
_ENCAPSULATION_KEYWORDS = (
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
    "DataSetTrailingPadding",
)

_PIXEL_DATA_TAG = 0x7FE00010


def stored_range(ds: Dataset) -> tuple[int, int]:
    """Return the smallest and largest value that BitsStored and PixelRepresentation allow."""
    bits = int(ds.BitsStored)
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def output_dtype(ds: Dataset) -> np.dtype[np.integer]:
    """Return the little-endian integer dtype of BitsAllocated and PixelRepresentation.

    Raises
    ------
    InputError
        For BitsAllocated other than 8, 16 or 32 (e.g. 1-bit segmentations).
    """
    allocated = int(ds.BitsAllocated)
    if allocated not in (8, 16, 32):
        raise InputError(f"cannot write BitsAllocated {allocated} pixel data")
    kind = "i" if int(ds.get("PixelRepresentation", 0)) == 1 else "u"
    dtype: np.dtype[np.integer] = np.dtype(f"<{kind}{allocated // 8}")
    return dtype


def palette_rgb_to_8bit(rgb: np.ndarray) -> np.ndarray:
    """Return 16-bit RGB from 8-bit palette entries (``v << 8`` or ``v * 257``) as uint8.

    Palette tables hold 16-bit entries even for 8-bit colours, and several IODs (e.g.
    ultrasound) accept only 8-bit RGB. Values that are not such exact expansions are
    returned unchanged.

    >>> palette_rgb_to_8bit(np.array([0, 256, 65280], dtype=np.uint16))
    array([  0,   1, 255], dtype=uint8)
    >>> palette_rgb_to_8bit(np.array([1, 2], dtype=np.uint16)).dtype
    dtype('uint16')
    """
    if rgb.dtype != np.uint16:
        return rgb
    if not np.any(rgb & 0xFF):
        return (rgb >> 8).astype(np.uint8)
    if not np.any(rgb % 257):
        return (rgb // 257).astype(np.uint8)
    return rgb


def _set_color_layout(ds: Dataset, frames: np.ndarray) -> np.ndarray:
    """Make the dataset describe interleaved RGB samples; return the frames to store."""
    if frames.shape[-1] != 3:
        raise InputError(f"colour pixels must have 3 samples, got {frames.shape[-1]}")
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric == "PALETTE COLOR" or int(ds.get("SamplesPerPixel", 1)) == 1:
        if not np.issubdtype(frames.dtype, np.integer):
            raise InputError(f"RGB pixels from a palette must be integers, not {frames.dtype}")
        if int(ds.get("BitsAllocated", 8)) == 8:
            frames = palette_rgb_to_8bit(frames)
        bits = frames.dtype.itemsize * 8
        ds.SamplesPerPixel = 3
        ds.BitsAllocated = ds.BitsStored = bits
        ds.HighBit = bits - 1
        ds.PixelRepresentation = 0
        for keyword in PALETTE_KEYWORDS:
            if keyword in ds:
                delattr(ds, keyword)
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    return frames


def _check_shape(ds: Dataset, frames: np.ndarray) -> np.ndarray:
    """Check the frames fit the instance (colour layout set); return the frames to store."""
    for keyword in ("FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            raise InputError(f"cannot write {keyword} (floating point pixel data)")
    if frames.ndim == 4:
        frames = _set_color_layout(ds, frames)
    elif frames.ndim != 3:
        raise InputError(f"frames must be (F, H, W) or (F, H, W, 3), got {frames.shape}")
    elif int(ds.get("SamplesPerPixel", 1)) != 1:
        raise InputError("grey pixels cannot be written into a colour instance")
    expected = (int(ds.Rows), int(ds.Columns))
    if tuple(frames.shape[1:3]) != expected:
        raise InputError(f"frames are {frames.shape[1:3]}, the instance is {expected}")
    declared = ds.get("NumberOfFrames")
    count = int(declared) if declared not in (None, "") else 1
    if frames.shape[0] != count:
        raise InputError(f"{frames.shape[0]} frames for an instance of {count}")
    return frames


def _clip(frames: np.ndarray, low: int, high: int) -> tuple[np.ndarray, int]:
    """Round (floats) and clip to [low, high]; return the values and how many were clipped."""
    if not np.issubdtype(frames.dtype, np.integer):
        if not np.all(np.isfinite(frames)):
            raise InputError("pixel values must be finite")
        frames = np.rint(frames)
    outside = int(np.count_nonzero(frames < low) + np.count_nonzero(frames > high))
    if outside:
        frames = np.clip(frames, low, high)
    return frames, outside


def _set_value_vr(ds: Dataset, keyword: str, value: int) -> None:
    """Set a US-or-SS attribute with the VR that PixelRepresentation calls for."""
    vr = "SS" if int(ds.get("PixelRepresentation", 0)) == 1 else "US"
    tag = {
        "SmallestImagePixelValue": 0x00280106,
        "LargestImagePixelValue": 0x00280107,
        "SmallestPixelValueInSeries": 0x00280108,
        "LargestPixelValueInSeries": 0x00280109,
    }[keyword]
    ds.add_new(tag, vr, int(value))


def set_series_extremes(ds: Dataset, smallest: int, largest: int) -> None:
    """Rewrite Smallest/LargestPixelValueInSeries where the source has them (grey only)."""
    for keyword, value in (
        ("SmallestPixelValueInSeries", smallest),
        ("LargestPixelValueInSeries", largest),
    ):
        if keyword in ds:
            if int(ds.get("SamplesPerPixel", 1)) == 1:
                _set_value_vr(ds, keyword, value)
            else:
                delattr(ds, keyword)


def mark_lossy(ds: Dataset, transfer_syntax: str | None) -> None:
    """Keep LossyImageCompression "01" for pixels that went through a lossy codec.

    A source with "01" keeps it. A source stored with a lossy transfer syntax gets "01"
    (and a LossyImageCompressionMethod where it has none), unless the syntax can be
    lossless and the source says "00".
    """
    if str(ds.get("LossyImageCompression", "")) == "01" or transfer_syntax is None:
        return
    method = LOSSY_METHODS.get(str(transfer_syntax))
    if method is None:
        return
    said = str(ds.get("LossyImageCompression", ""))
    if transfer_syntax in _MAYBE_LOSSLESS and said == "00":
        return
    ds.LossyImageCompression = "01"
    if not ds.get("LossyImageCompressionMethod"):
        ds.LossyImageCompressionMethod = method


def set_pixel_data(ds: Dataset, frames: np.ndarray, *, transfer_syntax: str | None = None) -> int:
    """Write the stored values of one instance into its dataset, uncompressed.

    Parameters
    ----------
    ds : pydicom.Dataset
        The derived dataset (changed in place).
    frames : ndarray
        ``(F, H, W)`` grey or ``(F, H, W, 3)`` RGB stored values, frames in order.
    transfer_syntax : str, optional
        The source's transfer syntax, to keep the lossy compression flag true.

    Returns
    -------
    int
        How many values were outside the BitsStored/PixelRepresentation range and clipped.

    Raises
    ------
    InputError
        If the frames do not fit the instance (size, frame count, samples) or its bit
        depth cannot be written.
    """
    frames = _check_shape(ds, frames)
    low, high = stored_range(ds)
    values, clipped = _clip(frames, low, high)
    data = np.ascontiguousarray(values.astype(output_dtype(ds), copy=False))
    vr = "OW" if int(ds.BitsAllocated) > 8 else "OB"
    ds.add_new(_PIXEL_DATA_TAG, vr, data.tobytes())
    grey = data.ndim == 3
    for keyword, value in (
        ("SmallestImagePixelValue", data.min()),
        ("LargestImagePixelValue", data.max()),
    ):
        if keyword in ds:
            if grey:
                _set_value_vr(ds, keyword, int(value))
            else:
                delattr(ds, keyword)
    for keyword in _ENCAPSULATION_KEYWORDS:
        if keyword in ds:
            delattr(ds, keyword)
    mark_lossy(ds, transfer_syntax)
    return clipped
