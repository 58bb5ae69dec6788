"""Read and write NIfTI-1 and NIfTI-2 volumes (``.nii``, ``.nii.gz``) with nibabel.

This is the only module that knows RAS: the affine is converted to DICOM patient
coordinates (LPS) on reading and back on writing.

Slicing convention: voxel axis ``i`` runs along a row (columns, ``W``), ``j`` along a
column (rows, ``H``) and ``k`` across slices, so slice ``k`` of a 3-D volume is
``data[:, :, k].T``. Axes after the third are flattened with the slice axis innermost: a
4-D volume ``(X, Y, Z, T)`` gives ``N = Z * T`` slices, slice ``t * Z + z`` being
``data[:, :, z, t].T``. A 2-D image gives one slice.

``pixels`` hold the **stored** values in the on-disk dtype (never ``get_fdata``); the
scaling ``scl_slope``/``scl_inter`` goes to ``slope``/``intercept``. The writer restores
the header, shape, dtype, sform/qform with their codes and the scaling exactly, so load
and save cycles never drift.

Examples
--------
>>> import tempfile, pathlib
>>> import numpy as np
>>> from meddenoise.image import MedicalImage
>>> path = pathlib.Path(tempfile.mkdtemp()) / "a.nii.gz"
>>> image = MedicalImage.from_array(np.arange(24, dtype=np.int16).reshape(2, 3, 4))
>>> write_nifti(image, path).name
'a.nii.gz'
>>> back = read_nifti(path, modality="CT")
>>> back.shape, back.pixels.dtype.name, back.modality, np.array_equal(back.pixels, image.pixels)
((2, 3, 4), 'int16', 'CT', True)
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError

from meddenoise.errors import InputError
from meddenoise.image import Geometry, MedicalImage, dtype_range
from meddenoise.io.atomic import atomic_output

__all__ = ["NiftiSource", "read_nifti", "write_nifti"]

F64 = npt.NDArray[np.float64]

#: RAS <-> LPS: flip the first two axes (its own inverse).
_FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])

#: What nibabel, numpy and the decompressor raise on a malformed or truncated file.
_READ_ERRORS = (
    ImageFileError,
    HeaderDataError,
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    struct.error,
)


@dataclass
class NiftiSource:
    """What :func:`write_nifti` needs to restore a volume read by :func:`read_nifti`.

    Attributes
    ----------
    header : nibabel.Nifti1Header or nibabel.Nifti2Header
        A copy of the input header (extensions, units, intent, description...).
    shape : tuple of int
        Shape of the voxel array in the file, e.g. ``(X, Y, Z, T)``.
    dtype : numpy.dtype
        On-disk data type, with its byte order.
    slope, inter : float
        ``scl_slope`` and ``scl_inter`` as nibabel applies them (1 and 0 when unset).
    sform, qform : ndarray, shape (4, 4)
        The two affines (RAS), exactly as stored.
    sform_code, qform_code : int
        Their codes.
    version : int
        1 for NIfTI-1, 2 for NIfTI-2.
    """

    header: Any
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    slope: float
    inter: float
    sform: F64
    sform_code: int
    qform: F64
    qform_code: int
    version: int


def read_nifti(path: Path, *, modality: str | None = None) -> MedicalImage:
    """Read a NIfTI-1 or NIfTI-2 image of 2 to 7 dimensions as a stack of slices.

    Parameters
    ----------
    path : Path
        A ``.nii`` or ``.nii.gz`` file (a ``.hdr``/``.img`` pair is read too).
    modality : str, optional
        Modality code to record (NIfTI does not say); ``"OT"`` when None.

    Returns
    -------
    MedicalImage
        Stored values ``(N, H, W)`` in the on-disk dtype, one slope and intercept for
        every slice, LPS geometry from the sform (else the qform; with neither code set,
        nibabel's fallback affine from the voxel sizes), and a :class:`NiftiSource`.

    Raises
    ------
    InputError
        For a missing, empty, truncated or corrupt file, an RGB or complex data type, or
        NaN/Inf in floating-point voxels.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    img = _load(path)
    proxy: Any = img.dataobj
    dtype = np.dtype(img.get_data_dtype())
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise InputError(
            f"{path}: NIfTI data type {img.header.get_value_label('datatype')} is not "
            "supported (only grey integer or float voxels)"
        )
    shape = tuple(int(s) for s in img.shape)
    if len(shape) < 2:
        raise InputError(f"{path}: a NIfTI image needs at least 2 dimensions, got {shape}")
    if min(shape) < 1:
        raise InputError(f"{path}: NIfTI dimensions {shape} hold no voxel")
    _check_declared_size(path, img, shape, dtype)
    try:
        stored = np.asarray(proxy.get_unscaled())
    except _READ_ERRORS as exc:
        raise InputError(
            f"{path}: truncated or corrupt NIfTI voxel data ({_one_line(exc)})"
        ) from None
    pixels = _to_slices(stored, shape)
    if pixels.dtype.kind == "f":
        _check_finite(pixels, path)
    try:
        source = _source(img.header, shape, dtype, float(proxy.slope), float(proxy.inter))
        geometry = _geometry(np.asarray(img.affine, np.float64), shape)
    except _READ_ERRORS as exc:  # e.g. quaternion parameters that are no rotation
        raise InputError(f"{path}: invalid NIfTI orientation ({_one_line(exc)})") from None
    n = pixels.shape[0]
    return MedicalImage(
        pixels=pixels,
        modality=modality or "OT",
        slope=np.full(n, source.slope),
        intercept=np.full(n, source.inter),
        photometric="MONOCHROME2",
        value_range=dtype_range(dtype),
        format="nifti",
        geometry=geometry,
        path=path,
        source=source,
    )


def _load(path: Path) -> Any:
    """Open a NIfTI file (header only; nibabel reads the voxels on demand)."""
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    try:
        img = nib.load(str(path), mmap=False)
    except _READ_ERRORS as exc:
        raise InputError(f"{path}: not a readable NIfTI file ({_one_line(exc)})") from None
    if not isinstance(img, nib.Nifti1Pair):
        raise InputError(f"{path}: not a NIfTI-1 or NIfTI-2 image ({type(img).__name__})")
    return img


def _source(
    header: Any, shape: tuple[int, ...], dtype: np.dtype[Any], slope: float, inter: float
) -> NiftiSource:
    """Record what the writer needs: header copy, shape, dtype, scaling and both forms."""
    sform, sform_code = header.get_sform(coded=True)
    qform, qform_code = header.get_qform(coded=True)
    return NiftiSource(
        header=header.copy(),
        shape=shape,
        dtype=dtype,
        slope=slope,
        inter=inter,
        sform=np.asarray(header.get_sform() if sform is None else sform, np.float64),
        sform_code=int(sform_code),
        qform=np.asarray(header.get_qform() if qform is None else qform, np.float64),
        qform_code=int(qform_code),
        version=2 if isinstance(header, nib.Nifti2Header) else 1,
    )


def _check_declared_size(
    path: Path, img: Any, shape: tuple[int, ...], dtype: np.dtype[Any]
) -> None:
    """Refuse a header declaring more voxels than the file can hold (no huge allocation).

    Deflate compresses at most 1032:1, so a ``.gz`` file cannot hold more than that.
    """
    needed = float(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    data_file = Path(img.file_map["image"].filename or path)
    size = data_file.stat().st_size if data_file.is_file() else 0
    if data_file.name.lower().endswith(".gz"):
        size *= 1032
    else:
        needed += float(img.dataobj.offset)
    if needed > size:
        raise InputError(
            f"{path}: truncated NIfTI file: the header declares {int(needed)} bytes of voxel "
            f"data ({'x'.join(map(str, shape))} {dtype.name}) but the file is smaller"
        )


def _one_line(exc: BaseException) -> str:
    """Return an exception's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _to_slices(stored: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``(X, Y, Z, T...)`` -> ``(N, Y, X)`` in native byte order, slices z inner."""
    arr = stored.reshape(shape, order="F")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    # The reversed axes of a Fortran-ordered array are C-contiguous: no copy.
    return np.ascontiguousarray(arr.T).reshape(-1, shape[1], shape[0])


def _check_finite(pixels: np.ndarray, path: Path) -> None:
    """Raise for NaN or Inf, one slice at a time (no volume-sized temporary)."""
    for k in range(pixels.shape[0]):
        chunk = pixels[k]
        if np.isnan(chunk).any():
            raise InputError(f"NaN in {path} (slice {k}): replace NaN voxels before denoising")
        if np.isinf(chunk).any():
            raise InputError(f"Inf in {path} (slice {k}): replace infinite voxels first")


def _geometry(affine_ras: F64, shape: tuple[int, ...]) -> Geometry:
    """LPS geometry of every slice from a RAS affine (sheared affines included)."""
    lps = _FLIP @ affine_ras
    n_z = shape[2] if len(shape) > 2 else 1
    n_rest = int(np.prod(shape[3:], dtype=np.int64)) if len(shape) > 3 else 1
    k = np.tile(np.arange(n_z, dtype=np.float64), n_rest)
    positions: F64 = lps[:3, 3][None, :] + k[:, None] * lps[:3, 2][None, :]
    col_i, col_j = lps[:3, 0], lps[:3, 1]
    di, dj = float(np.linalg.norm(col_i)), float(np.linalg.norm(col_j))
    return Geometry(
        positions=positions,
        row_direction=col_i / (di or 1.0),
        column_direction=col_j / (dj or 1.0),
        pixel_spacing=(dj, di),
    )


def write_nifti(image: MedicalImage, path: Path, *, overwrite: bool = False) -> Path:
    """Write an image as NIfTI (``.nii`` or ``.nii.gz``), atomically.

    An image read by :func:`read_nifti` with slices of the same shape is written with its
    own header: the same shape, dtype, sform/qform and codes and ``scl_slope``/``scl_inter``
    (stored values are written as they are, never rescaled). Any other image gets an
    affine from its LPS geometry (identity without geometry, sform and qform code 1 or 2),
    its stored dtype and its slope/intercept when all slices share one; otherwise the
    physical values are written as float32.

    Parameters
    ----------
    image : MedicalImage
        A grey image (colour is refused).
    path : Path
        Output file; its suffix, ``.nii`` or ``.nii.gz``, chooses the compression.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    InputError
        For a colour image, a suffix other than ``.nii``/``.nii.gz``, an existing output
        without ``overwrite``, or a dtype NIfTI cannot store.
    """
    path = Path(path)
    if not path.name.lower().endswith((".nii", ".nii.gz")):
        raise InputError(f"{path}: a NIfTI output must end in .nii or .nii.gz")
    if image.is_color:
        raise InputError(f"{path}: NIfTI output takes grey images; write PNG or TIFF for colour")
    data, slope, inter = _stored_or_physical(image)
    if data.dtype.kind not in "biuf":
        raise InputError(f"{path}: NIfTI output takes integer or float voxels, not {data.dtype}")
    src = image.source
    try:
        if isinstance(src, NiftiSource) and _fits(src, data):
            out = _image_from_source(src, data)
        else:
            out = _image_from_geometry(image, data)
        out.header.set_slope_inter(slope, inter)
    except HeaderDataError as exc:
        raise InputError(f"{path}: NIfTI cannot store this image ({_one_line(exc)})") from None
    with atomic_output(path, overwrite=overwrite) as tmp:
        nib.save(out, str(tmp))
    return path


def _stored_or_physical(image: MedicalImage) -> tuple[np.ndarray, float, float]:
    """Return the stored values and their shared scaling, else physical float32 values."""
    pixels = image.pixels
    if pixels.dtype == np.bool_:
        pixels = pixels.astype(np.uint8)
    elif pixels.dtype == np.float16:
        pixels = pixels.astype(np.float32)
    slope, inter = image.slope, image.intercept
    if np.all(slope == slope[0]) and np.all(inter == inter[0]):
        return pixels, float(slope[0]), float(inter[0])
    physical = np.empty(pixels.shape, dtype=np.float32)
    for k in range(image.n_slices):
        physical[k] = image.physical(k, k + 1)[0]
    return physical, 1.0, 0.0


def _fits(src: NiftiSource, data: np.ndarray) -> bool:
    """Tell whether the slices fill the source's voxel array exactly."""
    n = int(np.prod(src.shape[2:], dtype=np.int64)) if len(src.shape) > 2 else 1
    return data.shape == (n, src.shape[1], src.shape[0])


def _image_from_source(src: NiftiSource, data: np.ndarray) -> Any:
    """Invert the slicing and reuse the source header (its sform/qform untouched)."""
    header = src.header.copy()
    header.set_data_dtype(data.dtype)
    volume = data.reshape(src.shape[::-1]).T
    klass: Any = nib.Nifti2Image if src.version == 2 else nib.Nifti1Image
    # affine=None keeps the header's sform and qform exactly as they were read.
    return klass(volume, None, header)


def _image_from_geometry(image: MedicalImage, data: np.ndarray) -> Any:
    """Build a new header and affine from the LPS geometry (identity without one)."""
    big = max(data.shape) > np.iinfo(np.int16).max  # NIfTI-1 dimensions are int16
    header_class: Any = nib.Nifti2Header if big else nib.Nifti1Header
    image_class: Any = nib.Nifti2Image if big else nib.Nifti1Image
    header = header_class()
    header.set_data_dtype(data.dtype)
    header.set_xyzt_units("mm")
    volume = data.transpose(2, 1, 0)
    out = image_class(volume, None, header)
    if image.geometry is None:
        out.set_sform(np.eye(4), code="aligned")
        out.set_qform(np.eye(4), code="aligned")
    else:
        affine = _FLIP @ _affine_lps(image.geometry)
        out.set_sform(affine, code="scanner")
        out.set_qform(affine, code="scanner")  # nearest orthonormal frame where sheared
    return out


def _affine_lps(geometry: Geometry) -> F64:
    """4x4 LPS affine of voxel ``(i, j, k)`` = (column, row, slice)."""
    row_spacing, col_spacing = geometry.pixel_spacing
    step = geometry.positions[1] - geometry.positions[0] if len(geometry.positions) > 1 else None
    if step is None or float(np.linalg.norm(step)) < 1e-6:
        step = geometry.normal * (geometry.slice_thickness or 1.0)
    affine = np.eye(4)
    affine[:3, 0] = geometry.row_direction * col_spacing
    affine[:3, 1] = geometry.column_direction * row_spacing
    affine[:3, 2] = step
    affine[:3, 3] = geometry.positions[0]
    return affine
