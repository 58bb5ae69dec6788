"""Read and write raster images: PNG and JPEG with Pillow, TIFF with tifffile.

A raster image becomes ``pixels`` of shape ``(N, H, W)`` (grey) or ``(N, H, W, 3)``
(RGB) in uint8 or uint16 (TIFF may hold other dtypes), slope 1, intercept 0, no geometry.
An alpha channel goes to :attr:`MedicalImage.alpha` ``(N, H, W)``, never to ``pixels``.
PNG and JPEG hold one image (``N = 1``); a multi-page TIFF gives one slice per page.

Conversions on reading (the writer then writes the converted mode):

- palette PNG (mode ``P``) becomes RGB, or RGBA where the palette has transparency;
- CMYK and YCbCr JPEG become RGB; a bilevel PNG (mode ``1``) becomes 8-bit grey;
- palette TIFF becomes RGB (uint8 when the colour map allows, else uint16).

16-bit colour PNG is refused: Pillow decodes it to 8 bits (write or convert to TIFF).
JPEG EXIF orientation is not applied: pixels are kept as stored.
Images over :data:`MAX_PIXELS` pixels per page are refused before they are decoded.

Examples
--------
>>> import tempfile, pathlib
>>> import numpy as np
>>> from meddenoise.image import MedicalImage
>>> path = pathlib.Path(tempfile.mkdtemp()) / "a.png"
>>> grey = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000
>>> write_raster(MedicalImage.from_array(grey), path).name
'a.png'
>>> back = read_raster(path)
>>> back.shape, back.pixels.dtype.name, back.format, np.array_equal(back.pixels[0], grey)
((1, 3, 4), 'uint16', 'png', True)
"""

from __future__ import annotations

import logging
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from meddenoise.errors import InputError
from meddenoise.image import MedicalImage, dtype_range
from meddenoise.io.atomic import atomic_output

# tifffile logs each malformed tag it meets and has no handler of its own, so Python's
# last-resort handler would print those lines to stderr; the reader raises its own error.
logging.getLogger("tifffile").addHandler(logging.NullHandler())

__all__ = ["MAX_PAGES", "MAX_PIXELS", "RasterSource", "read_raster", "write_raster"]

#: Largest page (width x height) decoded: Pillow's decompression-bomb limit.
MAX_PIXELS = 2 * int(Image.MAX_IMAGE_PIXELS or 89_478_485)
#: Most pages read from one TIFF file.
MAX_PAGES = 100_000
#: Decoded, an uncompressed TIFF holds at most 8 times its file size (1-bit samples);
#: a compressed one at most this many times, or :data:`_MIN_DECLARED` bytes.
_MAX_RATIO = 2000
_MIN_DECLARED = 256 * 2**20

_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff"}
_MAGIC = [(b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg")] + [
    (magic, "tiff") for magic in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
]
_READ_ERRORS = (
    UnidentifiedImageError,
    tifffile.TiffFileError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    KeyError,
    IndexError,
    ImportError,
    zlib.error,
    struct.error,
    # tifffile on malformed tags: a zero RowsPerStrip, a tuple where a number belongs...
    ArithmeticError,
    TypeError,
    AttributeError,
    AssertionError,
    RuntimeError,
)
#: Pillow modes read as they are, and what ``convert`` makes of the others.
_NATIVE = ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I")
_CONVERT = {"1": "L", "CMYK": "RGB", "YCbCr": "RGB", "PA": "RGBA"}
#: Lossless TIFF compressions written without extra codecs.
_TIFF_LOSSLESS = ("zlib", "adobe_deflate", "deflate")


@dataclass
class RasterSource:
    """How a raster image was stored, for writing it back the same way.

    Attributes
    ----------
    format : str
        ``"png"``, ``"jpeg"`` or ``"tiff"``.
    mode : str
        Mode in the file: Pillow's (``"L"``, ``"LA"``, ``"I;16"``, ``"RGB"``, ``"RGBA"``,
        ``"P"``...) or, for TIFF, ``"<photometric>:<samples>"``.
    bit_depth : int
        Bits per sample (1, 8, 16, 32...).
    has_alpha : bool
        Whether an alpha channel was read into ``image.alpha``.
    compression : str or None
        TIFF compression name (lowercase), None when uncompressed or not TIFF.
    dpi : tuple of float or None
        Resolution, where the file records it.
    icc_profile : bytes or None
        Embedded colour profile (PNG, JPEG).
    """

    format: str
    mode: str
    bit_depth: int
    has_alpha: bool = False
    compression: str | None = None
    dpi: tuple[float, float] | None = None
    icc_profile: bytes | None = None


def read_raster(path: Path, *, modality: str | None = None) -> MedicalImage:
    """Read a PNG, JPEG or TIFF image.

    Parameters
    ----------
    path : Path
        The image file; its content, not its name, tells the format.
    modality : str, optional
        Modality to record (``"XC"``, ``"SM"``, ``"DX"``...); ``"OT"`` when None.

    Returns
    -------
    MedicalImage
        Stored values, alpha apart, with a :class:`RasterSource`.

    Raises
    ------
    InputError
        For a missing, empty, truncated or corrupt file, a wrong signature, an image
        over :data:`MAX_PIXELS`, 16-bit colour PNG or an unsupported mode.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with path.open("rb") as handle:
        head = handle.read(32)
    if not head:
        raise InputError(f"{path}: empty file")
    fmt = next((f for magic, f in _MAGIC if head.startswith(magic)), None)
    if fmt is None:
        raise InputError(f"{path}: not a PNG, JPEG or TIFF file (unknown signature)")
    try:
        if fmt == "tiff":
            pixels, alpha, photometric, source = _read_tiff(path)
        else:
            pixels, alpha, photometric, source = _read_pillow(path, fmt, head)
    except InputError:  # a ValueError too: keep its own message
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path}: image too large ({exc})") from None
    except _READ_ERRORS as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"{path}: truncated or corrupt {fmt.upper()} file ({message})") from None
    if pixels.size == 0:  # e.g. tifffile gave up reshaping a damaged page
        raise InputError(f"{path}: truncated or corrupt {fmt.upper()} file (no pixels)")
    if pixels.dtype.kind == "f" and not np.all(np.isfinite(pixels)):
        raise InputError(f"NaN or Inf in {path}: replace non-finite values first")
    n = pixels.shape[0]
    return MedicalImage(
        pixels=pixels,
        modality=modality or "OT",
        slope=np.ones(n),
        intercept=np.zeros(n),
        photometric=photometric,
        value_range=(0.0, 1.0) if source.bit_depth == 1 else dtype_range(pixels.dtype),
        format=fmt,
        alpha=alpha,
        path=path,
        source=source,
    )


def _read_pillow(
    path: Path, fmt: str, head: bytes
) -> tuple[np.ndarray, np.ndarray | None, str, RasterSource]:
    """Decode a PNG or JPEG with Pillow, after checking what Pillow would get wrong."""
    # IHDR bit depth 16 with colour type RGB, grey+alpha or RGBA.
    if fmt == "png" and head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 4, 6):
        raise InputError(
            f"{path}: 16-bit colour PNG is not supported (Pillow reduces it to 8 bits); "
            "convert it to a 16-bit TIFF"
        )
    with Image.open(path) as im:
        _check_size(path, im.width, im.height)
        im.load()
        mode = im.mode
        info = {"dpi": im.info.get("dpi"), "icc": im.info.get("icc_profile")}
        if mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif mode in _CONVERT:
            im = im.convert(_CONVERT[mode])
        elif mode not in _NATIVE:
            raise InputError(f"{path}: unsupported {fmt.upper()} mode {mode!r}")
        array = np.asarray(im)
    if im.mode.startswith("I"):
        if array.min(initial=0) < 0 or array.max(initial=0) > 65535:
            raise InputError(f"{path}: 32-bit integer {fmt.upper()} is not supported")
        array = array.astype(np.uint16)
    array, alpha = _split_alpha(array[None], im.mode in ("LA", "RGBA"))
    dpi = info["dpi"]
    source = RasterSource(
        format=fmt,
        mode=mode,
        bit_depth=16 if array.dtype == np.uint16 else 8,
        has_alpha=alpha is not None,
        dpi=(float(dpi[0]), float(dpi[1])) if dpi else None,
        icc_profile=info["icc"],
    )
    return array, alpha, "RGB" if array.ndim == 4 else "MONOCHROME2", source


def _read_tiff(path: Path) -> tuple[np.ndarray, np.ndarray | None, str, RasterSource]:
    """Decode the first series of a TIFF: pages -> slices, samples -> colour and alpha."""
    _check_page_chain(path)
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        page: Any = series.keyframe
        _check_size(path, int(page.imagewidth), int(page.imagelength))
        axes, shape = series.axes, series.shape
        declared = np.prod(shape, dtype=np.float64) * series.dtype.itemsize
        if declared > 8 * MAX_PIXELS:
            raise InputError(f"{path}: image too large ({'x'.join(map(str, shape))} samples)")
        size = path.stat().st_size
        compressed = int(page.compression) != 1
        limit = max(_MAX_RATIO * size, _MIN_DECLARED) if compressed else 8 * size
        if declared > limit:
            raise InputError(
                f"{path}: truncated or corrupt TIFF file: declares {int(declared)} bytes of "
                f"pixels ({'x'.join(map(str, shape))} {series.dtype}) in a file of {size} bytes"
            )
        _check_segments(path, page, series.pages)
        data = series.asarray()
        photometric = int(page.photometric)
        n_extra = len(page.extrasamples)
        colormap = page.colormap
        compression = None
        if int(page.compression) != 1:  # tifffile gives an int for a code it does not know
            compression = getattr(page.compression, "name", str(page.compression)).lower()
    if "S" in axes:
        data = np.moveaxis(data, axes.index("S"), -1)
        axes = axes.replace("S", "") + "S"
    samples = data.shape[-1] if axes.endswith("S") else 1
    colour = photometric == 2 and samples in (3, 4)
    grey_alpha = photometric in (0, 1) and samples == 2 and n_extra == 1
    if photometric == 3 and colormap is not None:
        data = _apply_colormap(data, np.asarray(colormap))
        colour, samples, axes = True, 3, axes + "S"
    elif axes.endswith("S") and not (colour or grey_alpha):
        data = np.moveaxis(data, -1, 0)  # separate channels become separate slices
        axes, samples = axes[:-1], 1
    # Y and X are the last axes (then S): everything before them is a page.
    data = data.reshape((-1, *data.shape[-3 if axes.endswith("S") else -2 :]))
    bit_depth = 1 if data.dtype == np.bool_ else data.dtype.itemsize * 8
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    pixels, alpha = _split_alpha(data, samples in (2, 4) and (colour or grey_alpha))
    source = RasterSource(
        format="tiff",
        mode=f"{photometric}:{samples}",
        bit_depth=bit_depth,
        has_alpha=alpha is not None,
        compression=compression,
    )
    if colour:
        return pixels, alpha, "RGB", source
    return pixels, alpha, "MONOCHROME1" if photometric == 0 else "MONOCHROME2", source


def _check_page_chain(path: Path) -> None:
    """Walk the chain of TIFF pages (IFDs): refuse a loop or more than :data:`MAX_PAGES`.

    tifffile follows the chain page by page and detects a loop only among the first 100
    pages, so a crafted file can make it list pages forever.
    """
    with path.open("rb") as handle:
        head = handle.read(16)
        order = "<" if head[:2] == b"II" else ">"
        big = struct.unpack(order + "H", head[2:4])[0] == 43  # BigTIFF
        count_fmt, count_size, entry_size, offset_fmt = (
            ("Q", 8, 20, "Q") if big else ("H", 2, 12, "I")
        )
        size = path.stat().st_size
        offset = struct.unpack(order + offset_fmt, head[8:16] if big else head[4:8])[0]
        seen: set[int] = set()
        while 0 < offset < size:
            if offset in seen:
                raise InputError(f"{path}: corrupt TIFF file (its pages form a loop)")
            if len(seen) >= MAX_PAGES:
                raise InputError(f"{path}: more than {MAX_PAGES} TIFF pages")
            seen.add(offset)
            handle.seek(offset)
            raw = handle.read(count_size)
            if len(raw) < count_size:
                break
            entries = struct.unpack(order + count_fmt, raw)[0]
            handle.seek(offset + count_size + entries * entry_size)
            raw = handle.read(struct.calcsize(offset_fmt))
            if len(raw) < struct.calcsize(offset_fmt):
                break
            offset = struct.unpack(order + offset_fmt, raw)[0]


def _check_segments(path: Path, keyframe: Any, pages: Any) -> None:
    """Refuse pages holding fewer strips or tiles than their size calls for.

    tifffile fills missing ones one at a time, in Python: a few bytes declaring a tall
    image of one-row strips would take minutes.
    """
    expected = int(np.prod(keyframe.chunked, dtype=np.int64))
    for page in pages:
        present = len(page.dataoffsets) if page is not None else expected
        if present < expected:
            raise InputError(
                f"{path}: truncated or corrupt TIFF file: a page needs {expected} strips "
                f"or tiles, it has {present}"
            )


def _apply_colormap(indices: np.ndarray, colormap: np.ndarray) -> np.ndarray:
    """Palette TIFF indices -> RGB, uint8 when the 16-bit map is an 8-bit one scaled."""
    rgb = np.moveaxis(colormap[:, indices], 0, -1)
    if np.all(colormap % 257 == 0):
        return (rgb // 257).astype(np.uint8)
    return rgb.astype(np.uint16)


def _check_size(path: Path, width: int, height: int) -> None:
    """Refuse a page whose declared size is over :data:`MAX_PIXELS` (before decoding)."""
    if width * height > MAX_PIXELS:
        raise InputError(
            f"{path}: image too large ({width}x{height} pixels, limit {MAX_PIXELS} per page)"
        )


def _split_alpha(array: np.ndarray, has_alpha: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Cut the last sample off as alpha; a single grey sample loses its axis."""
    alpha = None
    if has_alpha:
        alpha = np.ascontiguousarray(array[..., -1])
        array = array[..., :-1]
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    return np.ascontiguousarray(array), alpha


def write_raster(image: MedicalImage, path: Path, *, overwrite: bool = False) -> Path:
    """Write a PNG, JPEG or TIFF, the format following the suffix of ``path``.

    PNG and TIFF are lossless; **JPEG is lossy** (quality 95, no chroma subsampling) and
    holds neither alpha nor 16 bits. The mode, bit depth and alpha of ``image`` are kept:
    uint8 or uint16, grey or RGB, plus :attr:`MedicalImage.alpha` when set. TIFF also
    writes several slices as pages, MONOCHROME1 as "min-is-white", other dtypes of a
    TIFF source and the source's deflate compression. Raster formats have no rescale
    fields: the stored values are written as they are.

    Parameters
    ----------
    image : MedicalImage
        The image to write.
    path : Path
        ``.png``, ``.jpg``/``.jpeg`` or ``.tif``/``.tiff``.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    InputError
        For a dtype, mode or slice count the format cannot hold (the message names a
        format that can), another suffix, or an existing output without ``overwrite``.
    """
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: a raster output must end in .png, .jpg, .jpeg, .tif or .tiff")
    src = image.source if isinstance(image.source, RasterSource) else None
    _check_writable(image, path, fmt, src)
    data = image.pixels
    if image.alpha is not None:
        alpha = np.asarray(image.alpha).astype(data.dtype).reshape(data.shape[:3])
        data = np.concatenate([data if data.ndim == 4 else data[..., None], alpha[..., None]], -1)
    with atomic_output(path, overwrite=overwrite) as tmp:
        if fmt == "tiff":
            _write_tiff(image, data, tmp, src)
        else:
            _write_pillow(data[0], tmp, fmt, src)
    return path


def _check_writable(image: MedicalImage, path: Path, fmt: str, src: RasterSource | None) -> None:
    """Refuse what the format cannot store, naming a format that can."""
    dtype = image.pixels.dtype
    if dtype not in (np.uint8, np.uint16) and not (fmt == "tiff" and image.format == "tiff"):
        raise InputError(
            f"{path}: {fmt.upper()} output takes uint8 or uint16 images, not {dtype}; "
            "write NIfTI (.nii.gz) or DICOM instead"
        )
    if fmt == "tiff":
        return
    if image.n_slices != 1:
        raise InputError(
            f"{path}: {fmt.upper()} holds one image, not {image.n_slices} slices; "
            "write TIFF, NIfTI or DICOM"
        )
    if fmt == "jpeg" and (dtype != np.uint8 or image.alpha is not None):
        raise InputError(f"{path}: JPEG holds 8-bit grey or RGB without alpha; write PNG or TIFF")
    if dtype == np.uint16 and (image.is_color or image.alpha is not None):
        raise InputError(f"{path}: 16-bit colour or alpha PNG is not supported; write TIFF")


def _write_pillow(data: np.ndarray, tmp: Path, fmt: str, src: RasterSource | None) -> None:
    """Save one image with Pillow: lossless PNG, or JPEG quality 95."""
    im = Image.fromarray(np.ascontiguousarray(data))
    options: dict[str, Any] = {}
    if src is not None and src.dpi is not None:
        options["dpi"] = src.dpi
    if src is not None and src.icc_profile and im.mode != "I;16":
        options["icc_profile"] = src.icc_profile
    if fmt == "jpeg":
        options.update(quality=95, subsampling=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im.save(tmp, format="PNG" if fmt == "png" else "JPEG", **options)


def _write_tiff(image: MedicalImage, data: np.ndarray, tmp: Path, src: RasterSource | None) -> None:
    """Save all slices as TIFF pages with the photometric, alpha and compression kept."""
    photometric = "rgb" if image.is_color else "minisblack"
    if image.photometric == "MONOCHROME1":
        photometric = "miniswhite"
    options: dict[str, Any] = {"photometric": photometric}
    if image.alpha is not None:
        options["extrasamples"] = ["unassalpha"]
    if src is not None and src.compression in _TIFF_LOSSLESS:
        options["compression"] = "zlib"
    if src is not None and src.bit_depth == 1 and data.max(initial=0) <= 1:
        data = data.astype(bool)
    tifffile.imwrite(tmp, data if image.n_slices > 1 else data[0], **options)
