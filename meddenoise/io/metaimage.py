"""Read and write MetaImage files (``.mhd`` + data files, or single-file ``.mha``).

SimpleITK reads and writes the voxels; ITK geometry is already LPS. The array that
``sitk.GetArrayFromImage`` returns is ``(z, y, x)`` = ``(N, H, W)``, so slice ``k`` lies at
``origin + k * spacing_z * direction[:, 2]``, rows run along ``direction[:, 0]`` and
columns along ``direction[:, 1]``.

Writing ``.mhd`` produces two files, the header and one ``.raw`` (``.zraw`` when the
source was compressed) named after it, whatever the input's data-file layout was. Both
are written in a temporary folder beside the target, then the data file is renamed into
place first and the header last, so a header never points at a missing or partial data
file. ``.mha`` holds everything in one file.

Examples
--------
>>> import tempfile, pathlib
>>> import numpy as np
>>> from meddenoise.image import MedicalImage
>>> path = pathlib.Path(tempfile.mkdtemp()) / "a.mhd"
>>> image = MedicalImage.from_array(np.arange(24, dtype=np.int16).reshape(2, 3, 4))
>>> write_metaimage(image, path).name, sorted(p.name for p in path.parent.iterdir())
('a.mhd', ['a.mhd', 'a.raw'])
>>> back = read_metaimage(path)
>>> back.shape, back.pixels.dtype.name, np.array_equal(back.pixels, image.pixels)
((2, 3, 4), 'int16', True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk  # noqa: N813 - the name SimpleITK documents

from meddenoise.errors import InputError
from meddenoise.image import Geometry, MedicalImage, dtype_range
from meddenoise.io.atomic import atomic_output, check_output_path

__all__ = ["MetaImageSource", "read_metaimage", "write_metaimage"]

F64 = npt.NDArray[np.float64]

#: MetaIO modality codes with a DICOM equivalent.
_MODALITIES = {"MET_MOD_CT": "CT", "MET_MOD_MR": "MR", "MET_MOD_NM": "NM", "MET_MOD_US": "US"}

#: Most data files one header may name (``ElementDataFile = pattern start stop``).
_MAX_DATA_FILES = 100_000

#: Bytes per element of each MetaIO element type (for the truncation check).
_ELEMENT_BYTES = {
    "MET_CHAR": 1,
    "MET_UCHAR": 1,
    "MET_SHORT": 2,
    "MET_USHORT": 2,
    "MET_INT": 4,
    "MET_UINT": 4,
    "MET_LONG": 4,
    "MET_ULONG": 4,
    "MET_LONG_LONG": 8,
    "MET_ULONG_LONG": 8,
    "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}


@dataclass
class MetaImageSource:
    """What :func:`write_metaimage` needs to restore an image read by :func:`read_metaimage`.

    Attributes
    ----------
    dimension : int
        2 or 3.
    size : tuple of int
        Image size ``(x, y[, z])``.
    spacing, origin : tuple of float
        Exactly as read.
    direction : tuple of float
        Row-major direction matrix (``dimension**2`` values), columns = axes.
    compressed : bool
        Whether the data were zlib-compressed.
    files : list of Path
        The header and every data file it names (outputs may not replace them).
    """

    dimension: int
    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]
    compressed: bool = False
    files: list[Path] = field(default_factory=list)


def read_metaimage(path: Path, *, modality: str | None = None) -> MedicalImage:
    """Read a 2-D or 3-D MetaImage (grey, or RGB with three components).

    Parameters
    ----------
    path : Path
        ``.mhd`` header (its data files beside it) or ``.mha`` file.
    modality : str, optional
        Modality to record; else the header's ``Modality`` (CT, MR, NM, US), else
        ``"OT"``.

    Returns
    -------
    MedicalImage
        Stored values ``(N, H, W)`` (or ``(N, H, W, 3)``), slope 1 and intercept 0, LPS
        geometry and a :class:`MetaImageSource`.

    Raises
    ------
    InputError
        For a missing, empty, truncated or malformed file, a missing data file, 4-D or
        multi-component data, or NaN/Inf in floating-point data.
    """
    path = Path(path)
    fields = _header_fields(path)
    files = [path, *_data_files(path, fields.get("ElementDataFile", ""))]
    _check_data_size(path, fields, files[1:])
    try:
        img: Any = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        message = str(exc).strip().splitlines()[-1]
        raise InputError(f"{path}: not a readable MetaImage ({message})") from None
    dim, ncomp = img.GetDimension(), img.GetNumberOfComponentsPerPixel()
    if dim not in (2, 3) or ncomp not in (1, 3):
        raise InputError(
            f"{path}: only 2-D or 3-D grey or RGB MetaImages are read (got {dim}-D with "
            f"{ncomp} components)"
        )
    pixels = sitk.GetArrayFromImage(img)
    if dim == 2:
        pixels = pixels[None]
    if pixels.dtype.kind == "f":
        for word, bad in (("NaN", np.isnan), ("Inf", np.isinf)):
            if bad(pixels).any():
                raise InputError(f"{word} in {path}: replace non-finite values first")
    source = MetaImageSource(
        dimension=dim,
        size=tuple(int(s) for s in img.GetSize()),
        spacing=tuple(float(s) for s in img.GetSpacing()),
        origin=tuple(float(o) for o in img.GetOrigin()),
        direction=tuple(float(d) for d in img.GetDirection()),
        compressed=fields.get("CompressedData", "False").lower() == "true",
        files=files,
    )
    if modality is None:
        modality = _MODALITIES.get(fields.get("Modality", ""), "OT")
    n = pixels.shape[0]
    return MedicalImage(
        pixels=pixels,
        modality=modality,
        slope=np.ones(n),
        intercept=np.zeros(n),
        photometric="RGB" if ncomp == 3 else "MONOCHROME2",
        value_range=dtype_range(pixels.dtype),
        format="metaimage",
        geometry=_geometry(source, n),
        path=path,
        source=source,
    )


def _header_fields(path: Path) -> dict[str, str]:
    """Parse ``key = value`` lines up to ``ElementDataFile`` (the last header line)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    fields: dict[str, str] = {}
    lines = head.split(b"\n")
    for i, raw in enumerate(lines):
        key, sep, value = raw.decode("latin-1").partition("=")
        if not sep:
            continue
        fields[key.strip()] = value.strip()
        if key.strip() == "ElementDataFile":
            if value.strip().upper().startswith("LIST"):
                names = [ln.decode("latin-1").strip() for ln in lines[i + 1 :]]
                fields["ElementDataFile"] += "\n" + "\n".join(n for n in names if n)
            break
    if "NDims" not in fields or "ElementDataFile" not in fields:
        raise InputError(f"{path}: not a MetaImage header (no NDims or ElementDataFile)")
    return fields


def _data_files(path: Path, spec: str) -> list[Path]:
    """List the data files that ``ElementDataFile`` names (none for ``LOCAL``).

    Every data file must lie in the header's folder or below it: an absolute path or a
    ``..`` is refused, as a DICOMDIR naming a file outside its folder is.
    """
    first, *listed = spec.split("\n")
    words = first.split()
    if not words or words[0].upper() == "LOCAL":
        return []
    if words[0].upper() == "LIST":
        names = listed
    elif "%" in words[0] and len(words) >= 3:
        names = _numbered_names(path, words)
    else:
        names = [first]
    files = []
    for name in names:
        relative = Path(name.replace("\\", "/"))
        if relative.is_absolute() or ".." in relative.parts:
            raise InputError(
                f"{path}: ElementDataFile names a file outside the header's folder: {name}"
            )
        file = path.parent / relative
        if not file.is_file():
            raise InputError(f"{path}: data file {file.name} is missing")
        files.append(file)
    return files


def _numbered_names(path: Path, words: list[str]) -> list[str]:
    """Expand ``pattern first last step`` (a printf pattern) into file names.

    The step is required: SimpleITK divides by it (a missing step crashes the process).
    """
    malformed = InputError(
        f"{path}: malformed ElementDataFile pattern {' '.join(words)!r} "
        "(expected 'pattern first last step')"
    )
    try:
        numbers = range(int(words[1]), int(words[2]) + 1, int(words[3]))
    except (ValueError, IndexError):  # not integers, no step, or a step of 0
        raise malformed from None
    count = (numbers.stop - numbers.start) // numbers.step  # len() overflows past 2**63
    if count > _MAX_DATA_FILES:
        raise InputError(f"{path}: ElementDataFile names {count} data files")
    try:
        return [words[0] % i for i in numbers]
    except (ValueError, TypeError):
        raise malformed from None


def _check_data_size(path: Path, fields: dict[str, str], files: list[Path]) -> None:
    """Refuse a header declaring more data than its data files hold (no huge allocation).

    Compressed (zlib) data cannot expand more than 1032 times.
    """
    files = files or [path]  # LOCAL: the data follow the header in the same file
    try:
        size = [int(s) for s in fields.get("DimSize", "").split()]
        channels = int(fields.get("ElementNumberOfChannels", "1") or 1)
    except ValueError:
        raise InputError(
            f"{path}: malformed DimSize {fields.get('DimSize')!r} or ElementNumberOfChannels "
            f"{fields.get('ElementNumberOfChannels')!r}"
        ) from None
    if not size or min(size) < 1 or channels < 1:
        raise InputError(f"{path}: DimSize {size} with {channels} channel(s) holds no voxel")
    nbytes = _ELEMENT_BYTES.get(fields.get("ElementType", ""), 1)
    needed = int(np.prod(size, dtype=np.float64)) * nbytes * channels
    have = sum(os.path.getsize(f) for f in files)
    compressed = fields.get("CompressedData", "False").lower() == "true"
    if needed > have * (1032 if compressed else 1):
        raise InputError(
            f"{path}: header declares {needed} bytes of data but the data files hold {have}"
            f"{' compressed' if compressed else ''} (truncated file or wrong DimSize)"
        )


def _geometry(source: MetaImageSource, n: int) -> Geometry:
    """LPS geometry of each slice (a 2-D image lies in the z = origin plane)."""
    d = source.dimension
    direction = np.eye(3)
    direction[:d, :d] = np.asarray(source.direction, np.float64).reshape(d, d)
    spacing = np.ones(3)
    spacing[:d] = source.spacing
    origin = np.zeros(3)
    origin[:d] = source.origin
    k = np.arange(n, dtype=np.float64)
    positions: F64 = origin[None, :] + (k * spacing[2])[:, None] * direction[:, 2][None, :]
    return Geometry(
        positions=positions,
        row_direction=direction[:, 0].copy(),
        column_direction=direction[:, 1].copy(),
        pixel_spacing=(float(spacing[1]), float(spacing[0])),
    )


def write_metaimage(image: MedicalImage, path: Path, *, overwrite: bool = False) -> Path:
    """Write an image as MetaImage (``.mhd`` + ``.raw``, or ``.mha``), atomically.

    An image read by :func:`read_metaimage` keeps its dimension, spacing, origin,
    direction, dtype and compression. Other images take their geometry from
    :attr:`MedicalImage.geometry`. MetaImage has no rescale fields, so an image whose
    slope/intercept are not 1/0 is written in physical units: as the smallest signed
    integer type that holds them when stored values, slopes and intercepts are integers,
    else as float32.

    Parameters
    ----------
    image : MedicalImage
        Grey or RGB image.
    path : Path
        ``.mhd`` or ``.mha`` output; a ``.mhd`` gets its data file beside it.
    overwrite : bool
        Replace existing outputs (the header and its data file).

    Returns
    -------
    Path
        The header (``.mhd``) or single file (``.mha``).

    Raises
    ------
    InputError
        For another suffix, an existing output without ``overwrite``, or an output that
        would replace an input file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mhd", ".mha"):
        raise InputError(f"{path}: a MetaImage output must end in .mhd or .mha")
    src = image.source if isinstance(image.source, MetaImageSource) else None
    inputs = [p for p in [image.path, *(src.files if src else [])] if p is not None]
    check_output_path(path, overwrite=overwrite, inputs=inputs)
    compressed = bool(src and src.compressed)
    raw = path.with_suffix(".zraw" if compressed else ".raw")
    if suffix == ".mhd":
        check_output_path(raw, overwrite=overwrite, inputs=inputs)
    img = _sitk_image(image, _values(image), src)
    placed = None
    try:
        with atomic_output(path, overwrite=overwrite) as tmp:
            sitk.WriteImage(img, str(tmp), useCompression=compressed)
            if suffix == ".mhd":
                os.replace(tmp.with_suffix(raw.suffix), raw)
                placed = raw
    except RuntimeError as exc:
        message = str(exc).strip().splitlines()[-1]
        raise InputError(f"{path}: cannot write MetaImage ({message})") from None
    except BaseException:
        if placed is not None:
            placed.unlink(missing_ok=True)
        raise
    return path


def _values(image: MedicalImage) -> np.ndarray:
    """Return stored values when unscaled, else physical values (integer when exact)."""
    slope, inter = image.slope, image.intercept
    if np.all(slope == 1.0) and np.all(inter == 0.0):
        return image.pixels
    physical = image.physical()
    exact = (
        image.pixels.dtype.kind in "iub"
        and np.all(slope == np.round(slope))
        and np.all(inter == np.round(inter))
    )
    if exact and physical.size:
        lo, hi = float(physical.min()), float(physical.max())
        for dtype in (np.int16, np.int32):
            if dtype_range(dtype)[0] <= lo and hi <= dtype_range(dtype)[1]:
                return physical.astype(dtype)
    return physical.astype(np.float32)


def _sitk_image(image: MedicalImage, values: np.ndarray, src: MetaImageSource | None) -> Any:
    """Build a SimpleITK image with the source's geometry, else the image's, else none."""
    n = values.shape[0]
    two_d = n == 1 and (src.dimension == 2 if src else image.geometry is None)
    array = values[0] if two_d else values
    img: Any = sitk.GetImageFromArray(array, isVector=image.is_color)
    if src is not None and tuple(int(s) for s in img.GetSize()) == src.size:
        img.SetSpacing(src.spacing)
        img.SetOrigin(src.origin)
        img.SetDirection(src.direction)
    elif image.geometry is not None and not two_d:
        geometry = image.geometry
        step = geometry.slice_spacing or geometry.slice_thickness or 1.0
        row_spacing, col_spacing = geometry.pixel_spacing
        img.SetSpacing((col_spacing, row_spacing, step))
        img.SetOrigin(tuple(float(v) for v in geometry.positions[0]))
        direction = geometry.direction
        offsets = geometry.slice_offsets
        if len(offsets) > 1 and offsets[-1] < offsets[0]:
            direction[:, 2] *= -1.0  # slices run against the normal: keep their order
        img.SetDirection(tuple(float(v) for v in direction.ravel()))
    return img
