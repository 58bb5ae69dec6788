"""Decoding the pixel data of one DICOM instance, frame by frame, to stored values.

Compressed transfer syntaxes go through pydicom's decoder plugins (the optional
``dicom-codecs`` extra: pylibjpeg, pylibjpeg-openjpeg, pylibjpeg-rle, python-gdcm).
Colour conventions inside the toolkit (see :data:`meddenoise.image.COLOR`):

- YBR_FULL, YBR_FULL_422 (and the YBR variants of JPEG codecs) -> RGB, done by pydicom;
- PALETTE COLOR -> RGB through the palette's lookup tables (uint8 or uint16 by the table);
- MONOCHROME1 stays as stored and is reported as ``"MONOCHROME1"``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import Decoder, get_decoder
from pydicom.pixels.processing import apply_color_lut
from pydicom.uid import UID, ImplicitVRLittleEndian

from meddenoise.errors import InputError
from meddenoise.io.dicom.frames import number_of_frames

__all__ = [
    "CODECS_HINT",
    "check_pixel_data",
    "decode_frames",
    "find_decoder",
    "stored_value_range",
    "transfer_syntax",
]

#: How to install the optional decoders.
CODECS_HINT = "pip install 'meddenoise[dicom-codecs]'"

#: An encapsulated instance may not declare more than this many times its encoded size
#: (and more than :data:`_MIN_DECLARED` bytes): a guard against giant allocations.
_MAX_RATIO = 2000
_MIN_DECLARED = 256 * 2**20


def transfer_syntax(ds: Dataset) -> UID:
    """Return the transfer syntax (Implicit VR Little Endian where the meta is silent)."""
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(uid)) if uid else ImplicitVRLittleEndian


def find_decoder(ds: Dataset, name: object) -> Decoder:
    """Return a usable pixel data decoder for the instance's transfer syntax.

    Raises
    ------
    InputError
        Naming the transfer syntax, if no decoder exists for it or none of its plugins
        is installed (with the pip command that installs them).
    """
    uid = transfer_syntax(ds)
    label = f"{uid.name} ({uid})" if uid.name != uid else str(uid)
    try:
        decoder = get_decoder(uid)
    except (NotImplementedError, ValueError):
        raise InputError(
            f"{name}: no decoder for transfer syntax {label}; decompress the files first "
            f"(e.g. gdcmconv --raw) or {CODECS_HINT}"
        ) from None
    if not decoder.is_available:
        raise InputError(
            f"{name}: transfer syntax {label} needs a decoder that is not installed: {CODECS_HINT}"
        )
    return decoder


def check_pixel_data(ds: Dataset, name: object) -> None:
    """Check that the pixel data can hold what the header declares, before decoding.

    Raises
    ------
    InputError
        If PixelData is missing, or the declared Rows x Columns x frames (x samples)
        exceed what the pixel data holds (truncated file, wrong header).
    """
    if "PixelData" not in ds:
        other = [k for k in ("FloatPixelData", "DoubleFloatPixelData") if k in ds]
        why = f" (only {other[0]}, which is not supported)" if other else ""
        raise InputError(f"{name}: no PixelData{why}")
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        bits = int(ds.BitsAllocated)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        raise InputError(f"{name}: Rows, Columns or BitsAllocated missing or invalid") from None
    frames = number_of_frames(ds)
    if min(rows, cols) <= 0 or bits not in (1, 8, 16, 32, 64):
        raise InputError(f"{name}: invalid Rows {rows}, Columns {cols} or BitsAllocated {bits}")
    declared = rows * cols * frames * samples
    if samples == 3 and ds.get("PhotometricInterpretation") == "YBR_FULL_422":
        declared = declared * 2 // 3  # two chroma values per two pixels
    declared_bytes = (declared + 7) // 8 if bits == 1 else declared * (bits // 8)
    elem = ds["PixelData"]
    encoded = len(elem.value) if elem.value is not None else 0
    if transfer_syntax(ds).is_encapsulated:
        if declared_bytes > max(_MAX_RATIO * encoded, _MIN_DECLARED):
            raise InputError(
                f"{name}: declares {frames} frame(s) of {rows}x{cols} pixels "
                f"({declared_bytes} bytes) from {encoded} bytes of compressed pixel data"
            )
        return
    if encoded < declared_bytes:
        raise InputError(
            f"{name}: truncated pixel data: {frames} frame(s) of {rows}x{cols}x{samples} "
            f"pixels at {bits} bits need {declared_bytes} bytes, PixelData holds {encoded}"
        )


def stored_value_range(ds: Dataset) -> tuple[float, float]:
    """Smallest and largest storable value from BitsStored and PixelRepresentation.

    >>> ds = Dataset()
    >>> ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation = 16, 14, 1
    >>> stored_value_range(ds)
    (-8192.0, 8191.0)
    >>> ds.BitsStored, ds.PixelRepresentation = 12, 0
    >>> stored_value_range(ds)
    (0.0, 4095.0)
    """
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    if int(ds.get("PixelRepresentation") or 0) == 1:
        return -float(2 ** (bits - 1)), float(2 ** (bits - 1) - 1)
    return 0.0, float(2**bits - 1)


def decode_frames(ds: Dataset, name: object) -> Iterator[tuple[np.ndarray, str]]:
    """Decode an instance's frames one at a time.

    Parameters
    ----------
    ds : pydicom.Dataset
        A complete instance (pixel data included), checked by :func:`check_pixel_data`.
    name : object
        How messages name the instance (its path).

    Yields
    ------
    frame : ndarray
        ``(H, W)`` or ``(H, W, 3)`` stored values in the stored dtype, native byte
        order (palette colour: the palette's RGB values).
    photometric : str
        ``"MONOCHROME1"``, ``"MONOCHROME2"`` or ``"RGB"``.

    Raises
    ------
    InputError
        If no decoder is installed for the transfer syntax, decoding fails or the
        photometric interpretation is unsupported.
    """
    decoder = find_decoder(ds, name)
    frames = decoder.iter_array(ds, as_rgb=True)
    done = 0
    while True:
        try:
            arr, meta = next(frames)
        except StopIteration:
            return
        except Exception:  # retried frame by frame below, where the error is reported
            break
        yield _to_toolkit_colour(arr, _photometric(meta, ds), ds, name)
        done += 1
    # pydicom's frame iterator fails on a few files (e.g. a PixelRepresentation that
    # differs from the codestream's) that its one-frame path decodes.
    for index in range(done, number_of_frames(ds)):
        try:
            # pydicom annotates **kwargs as DecodeOptions (a TypedDict) rather than Unpack
            arr, meta = decoder.as_array(ds, index=index, as_rgb=True)  # type: ignore[arg-type]
        except Exception as exc:  # any decoder failure is bad input
            text = " ".join(str(exc).split())[:300]
            hint = ""
            if "12-bit" in text:  # only pylibjpeg-libjpeg decodes 12-bit JPEG Extended
                hint = "; 12-bit JPEG needs pylibjpeg-libjpeg (GPL-3, installed separately)"
            raise InputError(f"{name}: cannot decode pixel data ({text}){hint}") from None
        yield _to_toolkit_colour(arr, _photometric(meta, ds), ds, name)


def _photometric(meta: dict[str, str | int], ds: Dataset) -> str:
    return str(meta.get("photometric_interpretation", ds.PhotometricInterpretation))


def _to_toolkit_colour(
    arr: np.ndarray, photometric: str, ds: Dataset, name: object
) -> tuple[np.ndarray, str]:
    if not arr.dtype.isnative:  # big endian transfer syntaxes: same values, native order
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        return arr, photometric
    if photometric == "RGB" and arr.ndim == 3:
        return arr, "RGB"
    if photometric == "PALETTE COLOR":
        try:
            rgb = apply_color_lut(arr, ds)
        except Exception as exc:
            raise InputError(f"{name}: cannot apply the palette colour tables ({exc})") from None
        return rgb, "RGB"
    raise InputError(
        f"{name}: unsupported photometric interpretation {photometric!r} for "
        f"{arr.shape[-1] if arr.ndim == 3 else 1} sample(s) per pixel"
    )
