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
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

from meddenoise.errors import InputError
from meddenoise.io.dicom.frames import number_of_frames

__all__ = [
    "CODECS_HINT",
    "MAX_FRAMES",
    "check_frame_count",
    "check_pixel_data",
    "decode_frames",
    "find_decoder",
    "stored_value_range",
    "transfer_syntax",
]

#: Most frames read from one instance.
MAX_FRAMES = 2**18

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


def check_frame_count(ds: Dataset, size: int, name: object) -> None:
    """Check NumberOfFrames against the file's size, before any per-frame work.

    Native frames take their size in bytes each (two thirds of it for YBR_FULL_422; a
    deflated file may expand 1032 times), compressed frames at least 8 (an item header);
    no instance may hold more than :data:`MAX_FRAMES` frames.

    Parameters
    ----------
    ds : pydicom.Dataset
        The instance's header.
    size : int
        The size of the instance's file in bytes.
    name : object
        What messages call the instance (its path).

    Raises
    ------
    InputError
        If the file cannot hold the frames its header declares.
    """
    frames = number_of_frames(ds)
    if frames == 1:
        return
    if frames > MAX_FRAMES:
        raise InputError(
            f"{name}: NumberOfFrames {frames} is more than the {MAX_FRAMES} frames "
            "meddenoise reads from one instance"
        )
    limit = size * 1032 if transfer_syntax(ds) == DeflatedExplicitVRLittleEndian else size
    if _is_encapsulated(ds):
        if frames * 8 > limit:
            raise InputError(
                f"{name}: NumberOfFrames {frames} is more than a file of {size} bytes can "
                "hold (a compressed frame takes 8 bytes at least)"
            )
        return
    try:
        shape = (int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel") or 1))
        bits = int(ds.BitsAllocated)
    except (AttributeError, TypeError, ValueError):  # check_pixel_data names it later
        shape, bits = (0, 0, 0), 0
    per_frame = shape[0] * shape[1] * shape[2] * bits // 8
    if shape[2] == 3 and ds.get("PhotometricInterpretation") == "YBR_FULL_422":
        per_frame = per_frame * 2 // 3  # two chroma values per two pixels
    needed = frames * max(1, per_frame)  # 1 byte at least
    if needed > limit:
        raise InputError(
            f"{name}: truncated pixel data: {frames} frame(s) of {'x'.join(map(str, shape))} "
            f"pixels at {bits} bits need {needed} bytes, more than a file of {size} bytes "
            "can hold"
        )


def _is_encapsulated(ds: Dataset) -> bool:
    try:
        return bool(transfer_syntax(ds).is_encapsulated)
    except ValueError:  # not a transfer syntax pydicom knows
        return True


def check_pixel_data(ds: Dataset, name: object) -> None:
    """Check that the pixel data can hold what the header declares, before decoding.

    Raises
    ------
    InputError
        If PixelData is missing, a pixel attribute is missing or invalid, or the declared
        Rows x Columns x frames (x samples) exceed what the pixel data holds (truncated
        file, wrong header).
    """
    if "PixelData" not in ds:
        other = [k for k in ("FloatPixelData", "DoubleFloatPixelData") if k in ds]
        why = f" (only {other[0]}, which is not supported)" if other else ""
        raise InputError(f"{name}: no PixelData{why}")
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        bits = int(ds.BitsAllocated)
        stored = int(ds.get("BitsStored") or bits)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        int(ds.get("PixelRepresentation") or 0)
    except (AttributeError, TypeError, ValueError):
        raise InputError(
            f"{name}: Rows, Columns, BitsAllocated, BitsStored, SamplesPerPixel or "
            "PixelRepresentation missing or invalid"
        ) from None
    frames = number_of_frames(ds)
    if min(rows, cols) <= 0 or bits not in (1, 8, 16, 32, 64):
        raise InputError(f"{name}: invalid Rows {rows}, Columns {cols} or BitsAllocated {bits}")
    if not 1 <= stored <= bits:
        raise InputError(f"{name}: invalid BitsStored {stored} for BitsAllocated {bits}")
    declared = rows * cols * frames * samples
    if samples == 3 and ds.get("PhotometricInterpretation") == "YBR_FULL_422":
        declared = declared * 2 // 3  # two chroma values per two pixels
    declared_bytes = (declared + 7) // 8 if bits == 1 else declared * (bits // 8)
    value = ds["PixelData"].value
    encoded = len(value) if isinstance(value, (bytes, bytearray)) else 0
    uid = transfer_syntax(ds)
    try:
        encapsulated = uid.is_encapsulated
    except ValueError:  # pydicom knows no such transfer syntax
        raise InputError(f"{name}: {uid} is not a known transfer syntax") from None
    if encapsulated:
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
    plugins = _plugins(decoder)
    frames = decoder.iter_array(ds, as_rgb=True, decoding_plugin=plugins[0])
    done = 0
    while True:
        try:
            arr, meta = next(frames)
        except StopIteration:
            return
        except BaseException as exc:  # retried frame by frame below, where it is reported
            if not _is_decoder_failure(exc):
                raise
            break
        yield _to_toolkit_colour(arr, _photometric(meta, ds), ds, name)
        done += 1
    # pydicom's frame iterator fails on a few files (e.g. a PixelRepresentation that
    # differs from the codestream's) that its one-frame path decodes.
    for index in range(done, number_of_frames(ds)):
        arr, meta = _decode_frame(decoder, ds, index, plugins, name)
        yield _to_toolkit_colour(arr, _photometric(meta, ds), ds, name)


def _plugins(decoder: Decoder) -> list[str]:
    """Name the decoding plugins to use, in order (``""``: pydicom's choice, native data).

    GDCM only where no other plugin is installed for the transfer syntax: python-gdcm
    aborts the whole process (an uncaught C++ exception) on some malformed JPEG 2000
    codestreams, so it is never tried after another plugin failed on the data.
    """
    available = list(decoder.available_plugins)
    others = [plugin for plugin in available if plugin != "gdcm"]
    return others or available or [""]


def _decode_frame(
    decoder: Decoder, ds: Dataset, index: int, plugins: list[str], name: object
) -> tuple[np.ndarray, dict[str, str | int]]:
    """Decode one frame with the first plugin that succeeds."""
    errors = []
    for plugin in plugins:
        try:
            # pydicom annotates **kwargs as DecodeOptions (a TypedDict) rather than Unpack
            arr, meta = decoder.as_array(ds, index=index, as_rgb=True, decoding_plugin=plugin)  # type: ignore[arg-type]
        except BaseException as exc:  # any decoder failure is bad input
            if not _is_decoder_failure(exc):
                raise
            errors.append(" ".join(str(exc).split())[:300])
            continue
        return arr, meta
    text = "; ".join(errors)
    hint = ""
    if "12-bit" in text:  # only pylibjpeg-libjpeg decodes 12-bit JPEG Extended
        hint = "; 12-bit JPEG needs pylibjpeg-libjpeg (GPL-3, installed separately)"
    raise InputError(f"{name}: cannot decode pixel data ({text}){hint}")


def _is_decoder_failure(exc: BaseException) -> bool:
    """Tell a decoder's failure (any Exception, or a Rust codec's panic) from an interrupt.

    A panic in a Rust decoder (pylibjpeg-rle) reaches Python as ``PanicException``, which
    derives from BaseException, not Exception.
    """
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


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
