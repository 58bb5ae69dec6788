"""Readers and writers: DICOM, NIfTI, MetaImage and raster images to and from MedicalImage.

The dispatch tables name each format's reader and writer as ``"module:function"``, so
only the libraries of the format in use are imported.

Every reader has the signature ``read_X(path, *, modality=None, **options) ->
MedicalImage`` and every writer ``write_X(image, path, *, overwrite=False, **options) ->
Path``; writers write under a temporary name and rename (:mod:`meddenoise.io.atomic`).
"""

from __future__ import annotations

import importlib
import os
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meddenoise.errors import InputError

if TYPE_CHECKING:
    from meddenoise.image import MedicalImage

__all__ = [
    "FORMATS",
    "READERS",
    "WRITERS",
    "detect_format",
    "output_format",
    "read_image",
    "write_image",
]

#: Reader of each format.
READERS: dict[str, str] = {
    "dicom": "meddenoise.io.dicom.read:read_dicom",
    "nifti": "meddenoise.io.nifti:read_nifti",
    "metaimage": "meddenoise.io.metaimage:read_metaimage",
    "png": "meddenoise.io.raster:read_raster",
    "jpeg": "meddenoise.io.raster:read_raster",
    "tiff": "meddenoise.io.raster:read_raster",
}

#: Writer of each format.
WRITERS: dict[str, str] = {
    "dicom": "meddenoise.io.dicom.write:write_dicom",
    "nifti": "meddenoise.io.nifti:write_nifti",
    "metaimage": "meddenoise.io.metaimage:write_metaimage",
    "png": "meddenoise.io.raster:write_raster",
    "jpeg": "meddenoise.io.raster:write_raster",
    "tiff": "meddenoise.io.raster:write_raster",
}

FORMATS = tuple(READERS)

_SUFFIXES: dict[str, str] = {
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".mhd": "metaimage",
    ".mha": "metaimage",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".dcm": "dicom",
    ".dicom": "dicom",
    ".zip": "dicom",
}

_MAGIC: list[tuple[int, bytes, str]] = [
    # DICM first: a DICOM preamble may itself hold a TIFF header (dual-personality files).
    (128, b"DICM", "dicom"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (0, b"II+\x00", "tiff"),
    (0, b"MM\x00+", "tiff"),
    (344, b"n+1\x00", "nifti"),
    (0, b"\x1f\x8b", "gzip"),
]


def _suffix(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return path.suffix.lower()


def detect_format(path: str | os.PathLike[str]) -> str:
    """Name the format of an input path from its content, then its name.

    A folder, a zip file and a DICOMDIR are ``"dicom"``.

    Raises
    ------
    InputError
        If the path does not exist, is empty or is of no format the toolkit reads.
    """
    p = Path(path)
    if not p.exists():
        if p.is_symlink():
            raise InputError(f"{p}: broken symbolic link (its target is missing or a loop)")
        raise InputError(f"{p}: no such file or folder")
    if p.is_dir():
        return "dicom"
    if not p.is_file():
        raise InputError(f"{p}: not a regular file or folder")
    try:
        with p.open("rb") as handle:
            head = handle.read(352)
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror})") from None
    if not head:
        raise InputError(f"{p}: empty file")
    for offset, magic, fmt in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            if fmt == "gzip":
                if _suffix(p) == ".nii.gz":
                    return "nifti"
                break
            return fmt
    if zipfile.is_zipfile(p):
        return "dicom"
    if p.name.upper() == "DICOMDIR":
        return "dicom"
    by_name = _SUFFIXES.get(_suffix(p))
    if by_name is not None and by_name not in ("png", "jpeg", "tiff"):
        return by_name
    if _looks_like_raw_dicom(head):
        return "dicom"
    raise InputError(f"{p}: unknown file type (not DICOM, NIfTI, MetaImage, PNG, JPEG or TIFF)")


def _looks_like_raw_dicom(head: bytes) -> bool:
    """DICOM without preamble: starts with a group 0002 or 0008 element, little endian."""
    return len(head) >= 8 and head[0:2] in (b"\x02\x00", b"\x08\x00") and head[3] == 0


def output_format(path: str | os.PathLike[str]) -> str:
    """Name the format to write from an output path's suffix.

    A path without a suffix is a DICOM series folder; ``.dcm`` is DICOM too.

    Raises
    ------
    InputError
        For a suffix of no format the toolkit writes.
    """
    p = Path(path)
    suffix = _suffix(p)
    if not suffix:
        return "dicom"
    fmt = _SUFFIXES.get(suffix)
    if fmt is None or suffix == ".zip":
        raise InputError(
            f"{p}: cannot tell the output format from {suffix!r}; use .nii, .nii.gz, .mhd, "
            ".png, .tif, .jpg, .dcm or a folder name for a DICOM series"
        )
    return fmt


def _load(table: dict[str, str], fmt: str) -> Callable[..., Any]:
    module, _, name = table[fmt].partition(":")
    func: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return func


def read_image(
    path: str | os.PathLike[str],
    *,
    series_uid: str | None = None,
    modality: str | None = None,
) -> MedicalImage:
    """Read a DICOM series, NIfTI volume, MetaImage or raster image.

    Parameters
    ----------
    path : path-like
        A DICOM file, a folder (searched recursively), a zip file or a DICOMDIR; a
        ``.nii``/``.nii.gz``, ``.mhd``/``.mha``, PNG, JPEG or TIFF file.
    series_uid : str, optional
        Which DICOM series to read where the path holds several.
    modality : str, optional
        Modality for formats that do not record it (``"CT"`` makes the intensity
        mapping use Hounsfield units); ignored where the file says.

    Returns
    -------
    MedicalImage

    Raises
    ------
    InputError
        For a missing, unreadable, unknown or malformed input, or several DICOM series
        without ``series_uid`` (the message lists them).

    Warns
    -----
    Warning
        What the format libraries warned about while reading, only when the reading
        succeeds (an error is reported alone).
    """
    fmt = detect_format(path)
    options: dict[str, Any] = {"modality": modality}
    if fmt == "dicom":
        options["series_uid"] = series_uid
    elif series_uid is not None:
        raise InputError(f"{path}: series_uid applies to DICOM input only")
    reader = _load(READERS, fmt)
    # The libraries warn about what they tolerate in a file; when the file is refused
    # anyway, the error alone is the message (and one line): replay only on success.
    # The filters in force still apply (one turning a warning into an error included).
    with warnings.catch_warnings(record=True) as caught:
        image: MedicalImage = reader(Path(path), **options)
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    return image


def write_image(
    image: MedicalImage,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    overwrite: bool = False,
    **options: Any,
) -> Path:
    """Write an image; the format follows ``format``, else the suffix of ``path``.

    A DICOM series is written as a folder of files (a derived series of the source);
    other formats as one file. Nothing is written over the input, an existing output is
    kept unless ``overwrite``, and a failure leaves no partial output.

    Parameters
    ----------
    image : MedicalImage
        Usually the result of :func:`read_image` with denoised pixels.
    path : path-like
        Output file, or folder for DICOM.
    format : str, optional
        One of :data:`FORMATS`.
    overwrite : bool
        Replace an existing output.
    **options
        Passed to the format's writer (e.g. ``derivation`` for DICOM).

    Returns
    -------
    Path
        What was written.
    """
    from meddenoise.io.atomic import check_output_path

    fmt = format or output_format(path)
    if fmt not in WRITERS:
        raise InputError(f"unknown output format {fmt!r}; valid: {', '.join(WRITERS)}")
    inputs = [image.path] if image.path is not None else []
    files = getattr(image.source, "files", None)
    if files:
        inputs.extend(files)
    check_output_path(path, overwrite=overwrite, inputs=inputs)
    writer = _load(WRITERS, fmt)
    written: Path = writer(image, Path(path), overwrite=overwrite, **options)
    return written
