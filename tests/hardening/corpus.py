"""A corpus of bad and odd inputs, each built deterministically into a folder.

Every :class:`Case` builds its input (from the sample files in ``examples/data`` and
pydicom's test files where a real file matters, else written here) and states what
``meddenoise denoise INPUT -o OUTPUT`` must do: ``"ok"`` (exit 0 and an output of the
given shape and dtype) or ``"error"`` (exit 2 and one line starting with ``Error:`` that
contains ``message``). Where the failure is about the output or the model rather than
the input, ``meddenoise info INPUT`` must succeed (``info_ok``).

Simulations (stated where they are used): a full disk is an ``OSError(ENOSPC)`` raised
by the writer after it wrote part of a file; a missing decoder is a decoder reported as
not installed; an unwritable folder is ``/sys`` (sysfs refuses new entries, even to
root, whom ``chmod`` does not stop) or ``os.access`` reporting it unwritable.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import random
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "data"
PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
#: Where an output can never be created: sysfs refuses new files even to root.
UNWRITABLE = Path("/sys")

Build = Callable[[Path], Path]
Patch = Callable[[pytest.MonkeyPatch], None]


@dataclass(frozen=True)
class Case:
    """One input and what the command line must do with it.

    Attributes
    ----------
    name : str
        Test id.
    build : callable
        ``build(folder) -> input path``; writes the input under ``folder``.
    expect : str
        ``"ok"`` or ``"error"``.
    message : str
        Error: a substring of the one-line message (case-insensitive).
    shape, dtype
        Ok: the output as :func:`meddenoise.io.read_image` reads it back.
    output : str or callable
        Output name in an empty output folder, or ``output(input, tmp) -> path`` for
        outputs placed elsewhere (over the input, inside it, in ``/sys``).
    args : tuple of str
        More options for ``denoise`` (``info`` gets ``--series-uid`` too).
    patch : callable, optional
        ``patch(monkeypatch)``: an in-process simulation (full disk, no decoder...).
    info_ok : bool
        ``meddenoise info INPUT`` succeeds although ``denoise`` fails (output or model).
    model : callable, optional
        ``model(folder) -> checkpoint``; default the tiny test model.
    post : callable, optional
        ``post(tmp)``: further checks after the run (nothing written outside...).
    huge : bool
        Declares far more data than it holds: the memory test reads it too.
    """

    name: str
    build: Build
    expect: str
    message: str = ""
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    output: str | Callable[[Path, Path], Path] = "out.nii.gz"
    args: tuple[str, ...] = ()
    patch: Patch | None = None
    info_ok: bool = False
    model: Build | None = None
    post: Callable[[Path], None] | None = None
    huge: bool = False


# --------------------------------------------------------------------------- DICOM


@cache
def _ct_bytes() -> bytes:
    return (EXAMPLES / "ct_head" / "693_UNCR.dcm").read_bytes()


def _ct(size: tuple[int, int] = (16, 16), *, offset: int = 200) -> Dataset:
    """693_UNCR.dcm (signed 14-bit CT) cropped to ``size`` from its middle."""
    ds = pydicom.dcmread(io.BytesIO(_ct_bytes()))
    rows, cols = size
    arr = ds.pixel_array[offset : offset + rows, offset : offset + cols].copy()
    ds.Rows, ds.Columns = arr.shape
    ds.PixelData = arr.astype("<i2").tobytes()
    return ds


def _phantom(k: int, size: int = 16) -> Dataset:
    """Slice ``k`` (0-2) of the CT phantom series, cropped to ``size`` square."""
    name = ("I130", "I140", "I150")[k]
    ds = pydicom.dcmread(EXAMPLES / "ct_phantom" / name)
    arr = ds.pixel_array[240 : 240 + size, 240 : 240 + size].copy()
    ds.Rows, ds.Columns = arr.shape
    ds.PixelData = arr.astype("<u2").tobytes()
    return ds


def _save(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=False)
    return path


def _edited(edit: Callable[[Dataset], object], name: str = "ct.dcm") -> Build:
    """A cropped CT file changed by ``edit(ds)``."""

    def build(folder: Path) -> Path:
        ds = _ct()
        edit(ds)
        return _save(ds, folder / name)

    return build


def _set(**values: object) -> Callable[[Dataset], None]:
    def edit(ds: Dataset) -> None:
        for key, value in values.items():
            setattr(ds, key, value)

    return edit


def _raw(data: bytes, name: str) -> Build:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return build


def _series(
    folder: Path, *, n: int = 3, edit: Callable[[Dataset, int], None] | None = None
) -> Path:
    """The phantom slices (cropped) in ``folder``, each changed by ``edit(ds, k)``."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        ds = _phantom(k % 3)
        if edit is not None:
            edit(ds, k)
        _save(ds, folder / f"IM{k}")
    return folder


def dicom_ok(folder: Path) -> Path:
    return _save(_ct(), folder / "ct.dcm")


def dicom_truncated_half(folder: Path) -> Path:
    data = _ct_bytes()
    return _raw(data[: len(data) // 2], "half.dcm")(folder)


def dicom_truncated_header(folder: Path) -> Path:
    return _raw(_ct_bytes()[:400], "header.dcm")(folder)


def dicom_wrong_magic(folder: Path) -> Path:
    data = bytearray(_ct_bytes())
    data[128:132] = b"DICN"
    return _raw(bytes(data), "magic.dcm")(folder)


def dicom_garbage(folder: Path) -> Path:
    return _raw(random.Random(8).randbytes(4096), "noise.dcm")(folder)


def _no_pixel_data(ds: Dataset) -> None:
    del ds.PixelData


def dicom_encapsulated(
    source: str, *, frames: Callable[[list[bytes]], list[bytes]] = lambda f: f, **values: object
) -> Build:
    """A pydicom compressed test file with its codestreams and attributes changed."""

    def build(folder: Path) -> Path:
        ds = pydicom.dcmread(PYDICOM_FILES / source)
        nf = int(ds.get("NumberOfFrames") or 1)
        codestreams = frames(list(generate_frames(ds.PixelData, number_of_frames=nf)))
        ds.PixelData = encapsulate(codestreams)
        for key, value in values.items():
            setattr(ds, key, value)
        return _save(ds, folder / source)

    return build


def _truncate_codestreams(frames: list[bytes]) -> list[bytes]:
    return [f[: len(f) // 3] for f in frames]


def dicom_j2k_bad_header(folder: Path) -> Path:
    """JPEG2000.dcm with 4 bytes of its SIZ segment set to 0xff (found by fuzzing).

    python-gdcm aborts the process on this codestream (an uncaught C++ exception).
    """

    def damage(frames: list[bytes]) -> list[bytes]:
        return [frames[0][:42] + b"\xff\xff\xff\xff" + frames[0][46:]]

    return dicom_encapsulated("JPEG2000.dcm", frames=damage)(folder)


def dicom_rle_bad_segments(folder: Path) -> Path:
    """MR_small_RLE.dcm with 2 bytes cut from its first segment (found by fuzzing).

    pylibjpeg-rle panics on it: a Rust ``PanicException``, which is no ``Exception``.
    """

    def damage(frames: list[bytes]) -> list[bytes]:
        return [frames[0][:256] + frames[0][258:]]

    return dicom_encapsulated("MR_small_RLE.dcm", frames=damage)(folder)


def dicom_deflate_broken(folder: Path) -> Path:
    data = bytearray((PYDICOM_FILES / "image_dfl.dcm").read_bytes())
    meta_end = 132 + 12 + struct.unpack("<I", data[140:144])[0]
    data[meta_end + 10 : meta_end + 40] = b"\xff" * 30
    return _raw(bytes(data), "deflated.dcm")(folder)


def _transfer_syntax(uid: str) -> Callable[[Dataset], None]:
    def edit(ds: Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = uid

    return edit


def _encapsulated_as(uid: str) -> Callable[[Dataset], None]:
    """Native pixel bytes put in one fragment and labelled with a compressed syntax."""

    def edit(ds: Dataset) -> None:
        ds.PixelData = encapsulate([ds.PixelData])
        ds.file_meta.TransferSyntaxUID = uid

    return edit


def _rows_two_values(ds: Dataset) -> None:
    ds.Rows = [16, 16]


def _groups_not_a_sequence(ds: Dataset) -> None:
    """SharedFunctionalGroupsSequence as a UID (found by atheris): no functional groups."""
    ds.add_new(0x52009229, "UI", "1.2.3.4")


def _padding_two_values(ds: Dataset) -> None:
    ds.add_new(0x00280120, "SS", [-2000, -1000])  # PixelPaddingValue has one value


def dicom_unknown_vr(folder: Path) -> Path:
    """An explicit VR file whose Modality element claims the VR 'QQ'."""
    path = dicom_ok(folder)
    data = bytearray(path.read_bytes())
    at = data.index(b"\x08\x00\x60\x00CS")
    data[at + 4 : at + 6] = b"QQ"
    path.write_bytes(bytes(data))
    return path


def dicom_ybr_full_422_frames(folder: Path) -> Path:
    """Three native YBR_FULL_422 frames: two thirds of 3 bytes a pixel, not 3."""
    ds = pydicom.dcmread(PYDICOM_FILES / "SC_ybr_full_422_uncompressed.dcm")
    ds.NumberOfFrames = 3
    ds.PixelData = ds.PixelData * 3
    return _save(ds, folder / "ybr422.dcm")


#: Patient data in the bad element of ``dicom_bad_patient_element``: never in a message.
SENTINEL = "SENTINEL7Q"


def dicom_bad_patient_element(folder: Path) -> Path:
    """PatientName re-labelled VR US, with an odd length pydicom cannot decode."""
    ds = _ct()
    ds.PatientName = SENTINEL + "^X"  # 12 characters, padded to 12
    data = bytearray(_dicom_bytes(ds))
    at = data.index(b"\x10\x00\x10\x00PN")
    length = struct.unpack("<H", data[at + 6 : at + 8])[0]
    data[at + 4 : at + 8] = b"US" + struct.pack("<H", length - 1)
    del data[at + 8 + length - 1]
    return _raw(bytes(data), "badname.dcm")(folder)


def dicomdir_without_files(folder: Path) -> Path:
    return Path(shutil.copy(PYDICOM_FILES / "dicomdirtests" / "DICOMDIR", folder / "DICOMDIR"))


def _copy(source: Path) -> Build:
    def build(folder: Path) -> Path:
        return Path(shutil.copy(source, folder / source.name))

    return build


def five_series(folder: Path) -> Path:
    root = folder / "study"
    for k in range(5):
        ds = _phantom(k % 3)
        ds.SeriesInstanceUID = f"1.2.826.0.1.3680043.8.498.77.{k + 1}"
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.8.498.78.{k + 1}"
        ds.SeriesDescription = f"series {k + 1}"
        _save(ds, root / f"s{k}" / "IM0")
    return root


def duplicate_positions(folder: Path) -> Path:
    def same_place(ds: Dataset, k: int) -> None:
        ds.ImagePositionPatient = [0.0, 0.0, 5.0 if k else 0.0]

    return _series(folder / "dup", edit=same_place)


def same_instance_twice(folder: Path) -> Path:
    root = _series(folder / "twice")
    shutil.copy(root / "IM1", root / "IM1-copy")
    return root


def missing_position(folder: Path) -> Path:
    def drop(ds: Dataset, k: int) -> None:
        del ds.ImagePositionPatient

    return _series(folder / "nopos", edit=drop)


def mixed_sizes(folder: Path) -> Path:
    root = _series(folder / "mixed", n=2)
    ds = _phantom(2, size=12)
    return _save(ds, root / "IM2").parent


def folder_rt_and_sr(folder: Path) -> Path:
    root = folder / "objects"
    root.mkdir()
    for name in ("rtstruct.dcm", "reportsi.dcm", "rtplan.dcm"):
        shutil.copy(PYDICOM_FILES / name, root / name)
    return root


def symlink_loops(folder: Path) -> Path:
    root = _series(folder / "loops")
    (root / "again").symlink_to(root, target_is_directory=True)
    (root / "sub").mkdir()
    (root / "sub" / "up").symlink_to("..", target_is_directory=True)
    (root / "a.dcm").symlink_to("b.dcm")
    (root / "b.dcm").symlink_to("a.dcm")
    (root / "gone.dcm").symlink_to("nowhere.dcm")
    return root


def input_symlink_loop(folder: Path) -> Path:
    (folder / "x.dcm").symlink_to("y.dcm")
    (folder / "y.dcm").symlink_to("x.dcm")
    return folder / "x.dcm"


def input_dangling_symlink(folder: Path) -> Path:
    (folder / "scan.dcm").symlink_to(folder / "deleted.dcm")
    return folder / "scan.dcm"


def input_fifo(folder: Path) -> Path:
    os.mkfifo(folder / "pipe.dcm")
    return folder / "pipe.dcm"


def folder_named_png(folder: Path) -> Path:
    (folder / "image.png").mkdir()
    (folder / "image.png" / "readme.txt").write_text("a folder, not a PNG\n")
    return folder / "image.png"


def empty_folder(folder: Path) -> Path:
    (folder / "empty").mkdir()
    return folder / "empty"


def text_folder(folder: Path) -> Path:
    (folder / "notes").mkdir()
    (folder / "notes" / "a.txt").write_text("not DICOM\n")
    (folder / "notes" / "b.csv").write_text("x,y\n1,2\n")
    return folder / "notes"


# ----------------------------------------------------------------------------- zip

#: Where a zip member named with an absolute path would land if it were extracted.
ABSOLUTE_MEMBER = "/tmp/meddenoise-hardening-evil.dcm"


def _dicom_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


def zip_traversal(folder: Path) -> Path:
    path = folder / "study.zip"
    names = ["../../evil-up.dcm", ABSOLUTE_MEMBER, "..\\..\\evil-windows.dcm"]
    with zipfile.ZipFile(path, "w") as archive:
        for k, name in enumerate(names):
            archive.writestr(name, _dicom_bytes(_phantom(k)))
    return path


def nothing_escaped(tmp: Path) -> None:
    """No member file anywhere under the test folder or up to two levels above it."""
    assert not Path(ABSOLUTE_MEMBER).exists()
    names = {"evil-up.dcm", "evil-windows.dcm", "..\\..\\evil-windows.dcm"}
    assert not [p for p in tmp.rglob("*") if p.name in names]
    for folder in (tmp.parent, tmp.parent.parent):
        assert not [p for p in folder.iterdir() if p.name in names], folder


def zip_declared_huge(folder: Path) -> Path:
    """A DICOM member whose central directory entry claims 8 GiB (zip64)."""
    path = folder / "bomb.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("CT.dcm", _dicom_bytes(_phantom(0)))
        archive.infolist()[0].file_size = 8 * 2**30  # written into the central directory
    return path


def zip_of_zeros(folder: Path) -> Path:
    """64 MiB of zeros deflated to ~64 KiB: read lazily, never in full."""
    path = folder / "zeros.zip"
    chunk = b"\0" * 2**20
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.dcm", "w") as member,
    ):
        for _ in range(64):
            member.write(chunk)
    return path


def zip_bad_crc(folder: Path) -> Path:
    """A stored member with one pixel byte changed after its CRC was computed."""
    path = folder / "crc.zip"
    content = _dicom_bytes(_phantom(0))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("IM0.dcm", content)
    data = bytearray(path.read_bytes())
    data[30 + len("IM0.dcm") + len(content) - 10] ^= 0xFF  # after the local header
    path.write_bytes(bytes(data))
    return path


def zip_empty_name(folder: Path) -> Path:
    """A member with an empty name beside one valid slice."""
    path = folder / "noname.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo(""), b"x")
        archive.writestr("IM0.dcm", _dicom_bytes(_phantom(0)))
    return path


def zip_version_too_new(folder: Path) -> Path:
    """A central directory asking for zip version 9.1 to extract (found by atheris)."""
    path = folder / "future.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("IM0.dcm", _dicom_bytes(_phantom(0)))
    data = bytearray(path.read_bytes())
    at = data.index(b"PK\x01\x02")
    data[at + 6 : at + 8] = struct.pack("<H", 91)  # version needed to extract
    path.write_bytes(bytes(data))
    return path


# --------------------------------------------------------------------------- NIfTI


def _nifti(data: np.ndarray, name: str) -> Build:
    def build(folder: Path) -> Path:
        import nibabel as nib

        img = nib.Nifti1Image(data, np.diag([0.8, 0.8, 2.0, 1.0]))
        path = folder / name
        nib.save(img, path)
        return path

    return build


def _volume(dtype: str = "int16", shape: tuple[int, ...] = (16, 16, 3)) -> np.ndarray:
    return (np.arange(np.prod(shape)) % 97).astype(dtype).reshape(shape)


def _with_value(value: float) -> np.ndarray:
    data = _volume("float32")
    data[3, 4, 1] = value
    return data


def _nifti_edit(name: str, edit: Callable[[bytearray], None], *, gz: bool = False) -> Build:
    """A small int16 NIfTI with header bytes changed by ``edit``."""

    def build(folder: Path) -> Path:
        import nibabel as nib

        data = bytearray(nib.Nifti1Image(_volume(), np.eye(4)).to_bytes())
        edit(data)
        path = folder / name
        path.write_bytes(gzip.compress(bytes(data)) if gz else bytes(data))
        return path

    return build


def _dims(*dims: int) -> Callable[[bytearray], None]:
    def edit(data: bytearray) -> None:
        values = [len(dims), *dims] + [1] * (7 - len(dims))
        data[40:56] = struct.pack("<8h", *values)

    return edit


def _bad_quaternion(data: bytearray) -> None:
    data[252:256] = struct.pack("<2h", 1, 0)  # qform_code 1, sform_code 0
    data[256:268] = struct.pack("<3f", 1e38, 1e38, 1e38)  # quatern_b, c, d: no rotation


def _bad_quaternion_and_sform(data: bytearray) -> None:
    """A valid sform (used to load) beside a qform that is no rotation."""
    _bad_quaternion(data)
    data[252:256] = struct.pack("<2h", 1, 1)
    data[280:328] = struct.pack("<12f", 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0)  # srow_x/y/z


def _negative_pixdim(data: bytearray) -> None:
    data[80:92] = struct.pack("<3f", -0.8, -0.8, -2.0)


def nifti_gz_not_gzip(folder: Path) -> Path:
    import nibabel as nib

    path = folder / "plain.nii.gz"
    path.write_bytes(nib.Nifti1Image(_volume(), np.eye(4)).to_bytes())
    return path


def nifti_gz_truncated(folder: Path) -> Path:
    import nibabel as nib

    data = gzip.compress(nib.Nifti1Image(_volume(shape=(64, 64, 8)), np.eye(4)).to_bytes())
    path = folder / "cut.nii.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


# ----------------------------------------------------------------------- MetaImage


def _mhd(name: str, header: str, raw: dict[str, bytes] | None = None) -> Build:
    def build(folder: Path) -> Path:
        for file, data in (raw or {}).items():
            (folder / file).write_bytes(data)
        path = folder / name
        path.write_text(header)
        return path

    return build


def _mhd_header(dims: str = "8 6 2", data_file: str = "img.raw", **more: str) -> str:
    fields = {
        "ObjectType": "Image",
        "NDims": str(len(dims.split())),
        "DimSize": dims,
        "ElementType": "MET_SHORT",
        **more,
        "ElementDataFile": data_file,
    }
    return "".join(f"{k} = {v}\n" for k, v in fields.items())


_RAW = np.arange(96, dtype="<i2").tobytes()


def mha_truncated(folder: Path) -> Path:
    path = folder / "cut.mha"
    path.write_bytes(_mhd_header(data_file="LOCAL").encode() + _RAW[:50])
    return path


def mha_compressed_huge(folder: Path) -> Path:
    path = folder / "zhuge.mha"
    data = zlib.compress(_RAW)
    header = _mhd_header(
        "4000 4000 4000",
        data_file="LOCAL",
        CompressedData="True",
        CompressedDataSize=str(len(data)),
    )
    path.write_bytes(header.encode() + data)
    return path


def mhd_absolute(folder: Path) -> Path:
    secret = folder / "elsewhere" / "secret.raw"
    secret.parent.mkdir()
    secret.write_bytes(_RAW)
    return _mhd("abs.mhd", _mhd_header(data_file=str(secret)))(folder)


# -------------------------------------------------------------------------- raster


def _png(array: np.ndarray, name: str = "img.png", mode: str | None = None) -> Build:
    def build(folder: Path) -> Path:
        from PIL import Image

        im = Image.fromarray(array)
        if mode is not None:
            im = im.convert(mode)
        path = folder / name
        im.save(path, format="PNG")
        return path

    return build


def _grey(h: int, w: int, dtype: str = "uint8") -> np.ndarray:
    return (np.arange(h * w) * 37 % 251).astype(dtype).reshape(h, w)


def cell_crop(folder: Path) -> Path:
    from PIL import Image

    with Image.open(EXAMPLES / "cell.png") as im:
        crop = im.crop((40, 40, 64, 60))
        crop.save(folder / "cell.png")
    return folder / "cell.png"


def png_truncated(folder: Path) -> Path:
    data = (EXAMPLES / "cell.png").read_bytes()
    return _raw(data[: len(data) // 3], "cut.png")(folder)


def png_huge_ihdr(folder: Path) -> Path:
    """A PNG whose IHDR declares 100000 x 100000 pixels (CRC fixed)."""
    ihdr = b"IHDR" + struct.pack(">2I5B", 100_000, 100_000, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))
    idat_data = zlib.compress(b"\0" * 1000)
    idat = b"IDAT" + idat_data
    body = struct.pack(">I", len(idat_data)) + idat + struct.pack(">I", zlib.crc32(idat))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return _raw(b"\x89PNG\r\n\x1a\n" + chunk + body + end, "bomb.png")(folder)


def png_16bit_rgba(folder: Path) -> Path:
    """A 16-bit RGBA PNG written with raw chunks (Pillow cannot write one)."""
    h, w = 4, 5
    rows = b"".join(b"\0" + bytes(range(8 * w)) for _ in range(h))
    ihdr = b"IHDR" + struct.pack(">2I5B", w, h, 16, 6, 0, 0, 0)
    idat = b"IDAT" + zlib.compress(rows)

    def chunk(body: bytes) -> bytes:
        return struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))

    return _raw(b"\x89PNG\r\n\x1a\n" + chunk(ihdr) + chunk(idat) + chunk(b"IEND"), "rgba16.png")(
        folder
    )


def png_palette_transparent(folder: Path) -> Path:
    from PIL import Image

    im = Image.fromarray(_grey(12, 10) % 4).convert("P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    im.info["transparency"] = 0
    path = folder / "palette.png"
    im.save(path, transparency=0)
    return path


def jpeg_cmyk(folder: Path) -> Path:
    from PIL import Image

    rgb = np.stack([_grey(16, 24), _grey(16, 24)[::-1], _grey(16, 24)[:, ::-1]], -1)
    path = folder / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(path, quality=95)
    return path


def jpeg_truncated(folder: Path) -> Path:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(_grey(64, 64)).save(buffer, format="JPEG")
    data = buffer.getvalue()
    return _raw(data[: len(data) // 2], "cut.jpg")(folder)


def _tiff(array: np.ndarray, name: str, **options: object) -> Build:
    def build(folder: Path) -> Path:
        import tifffile

        path = folder / name
        tifffile.imwrite(path, array, **options)
        return path

    return build


def tiff_page_loop(folder: Path) -> Path:
    """Two pages whose next-page offsets point at each other."""
    import tifffile

    path = folder / "loop.tif"
    tifffile.imwrite(path, np.zeros((2, 4, 5), np.uint8), photometric="minisblack")
    data = bytearray(path.read_bytes())
    first = struct.unpack("<I", data[4:8])[0]
    offsets = [first]
    while offsets[-1]:
        at = offsets[-1]
        count = struct.unpack("<H", data[at : at + 2])[0]
        offsets.append(struct.unpack("<I", data[at + 2 + 12 * count : at + 6 + 12 * count])[0])
    last = offsets[-2]
    count = struct.unpack("<H", data[last : last + 2])[0]
    data[last + 2 + 12 * count : last + 6 + 12 * count] = struct.pack("<I", first)
    path.write_bytes(bytes(data))
    return path


def _tiff_tag(data: bytearray, tag: int, value: int) -> None:
    """Set a SHORT or LONG tag of the first page of a little-endian TIFF."""
    at = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[at : at + 2])[0]
    for k in range(count):
        entry = at + 2 + 12 * k
        code, kind = struct.unpack("<2H", data[entry : entry + 4])
        if code == tag:
            fmt = "<H2x" if kind == 3 else "<I"
            data[entry + 8 : entry + 12] = struct.pack(fmt, value)
            return
    raise KeyError(tag)


def _tiff_edited(name: str, **tags: int) -> Build:
    codes = {"ImageLength": 257, "ImageWidth": 256, "RowsPerStrip": 278, "Compression": 259}

    def build(folder: Path) -> Path:
        import tifffile

        path = folder / name
        tifffile.imwrite(path, _grey(8, 6), photometric="minisblack", rowsperstrip=2)
        data = bytearray(path.read_bytes())
        for key, value in tags.items():
            _tiff_tag(data, codes[key], value)
        path.write_bytes(bytes(data))
        return path

    return build


# --------------------------------------------------------------------- full disk


def _enospc(path: object) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def full_disk_nifti(monkeypatch: pytest.MonkeyPatch) -> None:
    """nibabel writes part of the file, then the disk is full."""
    import nibabel

    def save(img: object, filename: str, **kwargs: object) -> None:
        Path(filename).write_bytes(b"\0" * 348)
        raise _enospc(filename)

    monkeypatch.setattr(nibabel, "save", save)


def full_disk_dicom(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first instance is written, the disk is full at the second."""
    import meddenoise.io.dicom.write as module

    written: list[object] = []
    real = module.dcmwrite

    def dcmwrite(filename: object, ds: Dataset, **kwargs: object) -> None:
        if written:
            Path(str(filename)).write_bytes(b"DICM")
            raise _enospc(filename)
        written.append(filename)
        real(filename, ds, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "dcmwrite", dcmwrite)


def full_disk_png(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    def save(self: object, fp: object, format: object = None, **params: object) -> None:
        Path(str(fp)).write_bytes(b"\x89PNG\r\n\x1a\n")
        raise _enospc(fp)

    monkeypatch.setattr(Image.Image, "save", save)


def no_decoder_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pixel data decoder reports its plugins as not installed."""
    from pydicom.pixels.decoders.base import Decoder

    monkeypatch.setattr(Decoder, "is_available", property(lambda self: False))


def unwritable_by_access(monkeypatch: pytest.MonkeyPatch) -> None:
    """os.access says nothing is writable (what a read-only mount or an ACL would say)."""
    real = os.access

    def access(path: object, mode: int, **kwargs: object) -> bool:
        return False if mode & os.W_OK else real(path, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)


# -------------------------------------------------------------------- checkpoints


class _Evil:
    """Unpickling this opens (creates) the marker file: code execution."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


def pickled_checkpoint(folder: Path) -> Path:
    import torch

    path = folder / "evil.pt"
    payload = {
        "format_version": 1,
        "arch": "nen",
        "config": {"depth": 1},
        "state_dict": {"x": _Evil(str(folder / "pwned"))},
    }
    torch.save(payload, path)
    return path


def not_pwned(tmp: Path) -> None:
    assert not list(tmp.rglob("pwned"))


def garbage_checkpoint(folder: Path) -> Path:
    path = folder / "garbage.pt"
    path.write_bytes(random.Random(3).randbytes(2000))
    return path


# --------------------------------------------------------------------------- cases


def ok(name: str, build: Build, shape: tuple[int, ...], dtype: str, **more: object) -> Case:
    """A case that must give an output of ``shape`` and ``dtype``."""
    return Case(name, build, "ok", shape=shape, dtype=dtype, **more)  # type: ignore[arg-type]


def error(name: str, build: Build, message: str, **more: object) -> Case:
    """A case that must fail with one line holding ``message``, exit code 2."""
    return Case(name, build, "error", message, **more)  # type: ignore[arg-type]


def _beside(name: str) -> Callable[[Path, Path], Path]:
    return lambda source, tmp: source.parent / name


def _inside(name: str) -> Callable[[Path, Path], Path]:
    return lambda source, tmp: source / name


def _same(source: Path, tmp: Path) -> Path:
    return source


CASES: list[Case] = [
    # DICOM files
    ok("dicom_ok", dicom_ok, shape=(1, 16, 16), dtype="int16", output="series"),
    ok("dicom_ok_to_nifti", dicom_ok, shape=(1, 16, 16), dtype="int16"),
    error("dicom_truncated_half", dicom_truncated_half, "truncated pixel data"),
    error("dicom_truncated_header", dicom_truncated_header, "incomplete DICOM header"),
    error("dicom_wrong_magic", dicom_wrong_magic, "not a DICOM file"),
    error("dicom_empty_file", _raw(b"", "empty.dcm"), "empty file"),
    error("nifti_empty_file", _raw(b"", "empty.nii"), "empty file"),
    error("nifti_gz_empty_file", _raw(b"", "empty.nii.gz"), "empty file"),
    error("mha_empty_file", _raw(b"", "empty.mha"), "empty file"),
    error("png_empty_file", _raw(b"", "empty.png"), "empty file"),
    error("jpeg_empty_file", _raw(b"", "empty.jpg"), "empty file"),
    error("tiff_empty_file", _raw(b"", "empty.tif"), "empty file"),
    error("zip_empty_file", _raw(b"", "empty.zip"), "empty file"),
    error("dicom_random_bytes", dicom_garbage, "not a DICOM file"),
    error(
        "dicom_declares_huge_frames",
        _edited(_set(Rows=65535, Columns=65535, NumberOfFrames=10000)),
        "10000 frame(s) of 65535x65535x1 pixels",
        huge=True,
    ),
    error(
        "dicom_declares_huge_rows",
        _edited(_set(Rows=65535, Columns=65535)),
        "truncated pixel data",
        huge=True,
    ),
    error(
        "dicom_j2k_declares_huge_frames",
        dicom_encapsulated("JPEG2000.dcm", NumberOfFrames=2**31 - 1),
        "NumberOfFrames 2147483647",
        huge=True,
    ),
    error("dicom_bits_allocated_0", _edited(_set(BitsAllocated=0)), "BitsAllocated"),
    error("dicom_bits_allocated_7", _edited(_set(BitsAllocated=7)), "BitsAllocated"),
    error(
        "dicom_bits_allocated_64",
        _edited(_set(BitsAllocated=64, BitsStored=64, HighBit=63)),
        "truncated pixel data",
    ),
    ok("dicom_frames_zero", _edited(_set(NumberOfFrames=0)), (1, 16, 16), "int16"),
    error("dicom_frames_negative", _edited(_set(NumberOfFrames=-4)), "Number of Frames"),
    error("dicom_no_pixel_data", _edited(_no_pixel_data), "no PixelData"),
    error(
        "dicom_unknown_transfer_syntax",
        _edited(_transfer_syntax("1.2.3.4.5")),
        "not a known transfer syntax",
    ),
    error(
        "dicom_raw_pixels_labelled_jpeg2000",
        _edited(_encapsulated_as("1.2.840.10008.1.2.4.90")),
        "cannot decode pixel data",
    ),
    error(
        "dicom_no_decoder_for_syntax",
        _edited(_encapsulated_as("1.2.840.10008.1.2.4.107")),  # HEVC: pydicom has none
        "no decoder for transfer syntax",
    ),
    error(
        "dicom_decoder_not_installed",
        _copy(PYDICOM_FILES / "JPEG2000.dcm"),
        "dicom-codecs",
        patch=no_decoder_installed,
    ),
    error("dicom_deflate_broken", dicom_deflate_broken, "malformed or truncated DICOM"),
    error(
        "dicom_j2k_truncated_codestream",
        dicom_encapsulated("JPEG2000.dcm", frames=_truncate_codestreams),
        "cannot decode pixel data",
    ),
    error("dicom_j2k_bad_header", dicom_j2k_bad_header, "cannot decode pixel data"),
    error("dicom_rle_overrun", dicom_rle_bad_segments, "cannot decode pixel data"),
    error("dicom_rows_two_values", _edited(_rows_two_values), "invalid Rows"),
    error("dicom_unknown_vr", dicom_unknown_vr, "malformed"),
    error(
        "dicom_bad_patient_element",
        dicom_bad_patient_element,
        "element (0010,0010) (VR US) cannot be decoded",
    ),
    ok(
        "dicom_ybr_full_422_3_frames",
        dicom_ybr_full_422_frames,
        (3, 100, 100, 3),
        "uint8",
        output="series",
    ),
    ok("dicom_groups_not_a_sequence", _edited(_groups_not_a_sequence), (1, 16, 16), "int16"),
    ok("dicom_padding_two_values", _edited(_padding_two_values), (1, 16, 16), "int16"),
    error(
        "dicom_bits_stored_over_allocated",
        _edited(_set(BitsStored=40, HighBit=39)),
        "invalid BitsStored 40",
    ),
    ok("dicom_1x1", lambda f: _save(_ct((1, 1)), f / "one.dcm"), (1, 1, 1), "int16"),
    ok("dicom_1xN", lambda f: _save(_ct((1, 24)), f / "row.dcm"), (1, 1, 24), "int16"),
    ok("dicom_Nx1", lambda f: _save(_ct((24, 1)), f / "col.dcm"), (1, 24, 1), "int16"),
    error("rtstruct_alone", _copy(PYDICOM_FILES / "rtstruct.dcm"), "not an image"),
    error("sr_alone", _copy(PYDICOM_FILES / "reportsi.dcm"), "not an image"),
    error("folder_rt_sr_plan", folder_rt_and_sr, "no image instance"),
    error("dicomdir_missing_files", dicomdir_without_files, "does not exist"),
    # DICOM folders
    error("folder_5_series", five_series, "--series-uid"),
    ok(
        "folder_5_series_chosen",
        five_series,
        shape=(1, 16, 16),
        dtype="uint16",
        output="series",
        args=("--series-uid", "1.2.826.0.1.3680043.8.498.77.4"),
    ),
    error("folder_duplicate_positions", duplicate_positions, "share a position"),
    ok("folder_same_instance_twice", same_instance_twice, (3, 16, 16), "uint16"),
    ok("folder_missing_position", missing_position, (3, 16, 16), "uint16"),
    error("folder_mixed_sizes", mixed_sizes, "mixes image sizes"),
    ok("folder_symlink_loops", symlink_loops, (3, 16, 16), "uint16", output="series"),
    error("input_symlink_loop", input_symlink_loop, "broken symbolic link"),
    error("input_dangling_symlink", input_dangling_symlink, "broken symbolic link"),
    error("input_fifo", input_fifo, "not a regular file"),
    error("input_folder_named_png", folder_named_png, "holds no DICOM file"),
    error("empty_folder", empty_folder, "holds no DICOM file"),
    error("folder_without_dicom", text_folder, "holds no DICOM file"),
    error("input_missing", lambda f: f / "absent.dcm", "no such file"),
    # zip files
    ok(
        "zip_traversal_names",
        zip_traversal,
        (3, 16, 16),
        "uint16",
        output="series",
        post=nothing_escaped,
    ),
    error("zip_declared_8_gib", zip_declared_huge, "larger than", huge=True),
    error("zip_of_zeros", zip_of_zeros, "holds no DICOM file", huge=True),
    error("zip_bad_crc", zip_bad_crc, "Bad CRC-32"),
    error("zip_version_too_new", zip_version_too_new, "corrupt zip file"),
    ok("zip_empty_member_name", zip_empty_name, (1, 16, 16), "uint16"),
    error("zip_empty", _raw(b"PK\x05\x06" + b"\0" * 18, "empty.zip"), "no DICOM file"),
    # NIfTI
    ok("nifti_ok", _nifti(_volume(), "ok.nii.gz"), (3, 16, 16), "int16"),
    error("nifti_dim0_zero", _nifti_edit("dim0.nii", _dims()), "at least 2 dimensions"),
    error("nifti_zero_dimension", _nifti_edit("zero.nii", _dims(16, 0, 3)), "no voxel"),
    error(
        "nifti_declares_huge",
        _nifti_edit("huge.nii", _dims(30000, 30000, 30000)),
        "truncated NIfTI",
        huge=True,
    ),
    error(
        "nifti_gz_declares_huge",
        _nifti_edit("huge.nii.gz", _dims(30000, 30000, 30000), gz=True),
        "truncated NIfTI",
        huge=True,
    ),
    ok(
        "nifti_negative_pixdim",
        _nifti_edit("negpix.nii", _negative_pixdim),
        (3, 16, 16),
        "int16",
    ),
    error("nifti_bad_quaternion", _nifti_edit("quat.nii", _bad_quaternion), "not a readable NIfTI"),
    error(
        "nifti_bad_quaternion_beside_sform",
        _nifti_edit("quat.nii", _bad_quaternion_and_sform),
        "invalid NIfTI orientation",
    ),
    error("nifti_nan", _nifti(_with_value(np.nan), "nan.nii"), "NaN"),
    error("nifti_inf", _nifti(_with_value(-np.inf), "inf.nii.gz"), "Inf"),
    error(
        "nifti_complex",
        _nifti(_volume("complex64"), "complex.nii"),
        "not supported",
    ),
    error("nifti_gz_not_gzip", nifti_gz_not_gzip, "not a gzip file"),
    error("nifti_gz_truncated", nifti_gz_truncated, "truncated or corrupt NIfTI"),
    ok("nifti_1x1", _nifti(_volume(shape=(1, 1)), "one.nii"), (1, 1, 1), "int16"),
    ok("nifti_1xN", _nifti(_volume(shape=(9, 1)), "row.nii"), (1, 1, 9), "int16"),
    error("nifti_text", _raw(b"hello\n" * 100, "text.nii"), "not a readable NIfTI"),
    # MetaImage
    ok(
        "mhd_ok",
        _mhd("ok.mhd", _mhd_header(), {"img.raw": _RAW}),
        (2, 6, 8),
        "int16",
        output="out.mha",
    ),
    error("mhd_missing_raw", _mhd("miss.mhd", _mhd_header()), "is missing"),
    error(
        "mhd_short_raw",
        _mhd("short.mhd", _mhd_header(), {"img.raw": _RAW[:40]}),
        "header declares",
    ),
    error("mhd_absolute_data_file", mhd_absolute, "outside the header's folder"),
    error(
        "mhd_parent_data_file",
        _mhd("up.mhd", _mhd_header(data_file="../img.raw")),
        "outside the header's folder",
    ),
    error("mha_truncated", mha_truncated, "header declares"),
    error("mha_compressed_declares_huge", mha_compressed_huge, "header declares", huge=True),
    error(
        "mhd_bad_channels",
        _mhd("ch.mhd", _mhd_header(ElementNumberOfChannels="three"), {"img.raw": _RAW}),
        "ElementNumberOfChannels",
    ),
    error(
        "mhd_pattern_billion_files",
        _mhd("many.mhd", _mhd_header(data_file="s%05d.raw 1 1000000000 1")),
        "data files",
    ),
    error(
        "mhd_pattern_without_step",  # SimpleITK divides by the step: SIGFPE (found by hypothesis)
        _mhd("nostep.mhd", _mhd_header(data_file="s%d.raw 1 2"), {"s1.raw": _RAW, "s2.raw": _RAW}),
        "malformed ElementDataFile pattern",
    ),
    error("mhd_not_a_header", _raw(b"just text\n", "text.mhd"), "not a MetaImage"),
    # raster
    ok("png_cell_crop", cell_crop, (1, 20, 24), "uint8", output="out.png"),
    ok("png_named_dcm", _png(_grey(6, 7), "png.dcm"), (1, 6, 7), "uint8", output="out.png"),
    error("png_truncated", png_truncated, "truncated or corrupt PNG"),
    error("png_declares_100k_square", png_huge_ihdr, "too large", huge=True),
    error("png_16bit_rgba", png_16bit_rgba, "16-bit colour PNG is not supported"),
    ok("png_1x1", _png(_grey(1, 1), "one.png"), (1, 1, 1), "uint8", output="out.png"),
    ok("png_1xN", _png(_grey(1, 37), "row.png"), (1, 1, 37), "uint8", output="out.png"),
    ok("png_Nx1", _png(_grey(37, 1), "col.png"), (1, 37, 1), "uint8", output="out.png"),
    ok(
        "png_16bit_grey",
        _png(_grey(9, 11, "uint16") * 250, "g16.png"),
        (1, 9, 11),
        "uint16",
        output="out.png",
    ),
    ok(
        "png_palette",
        _png(_grey(12, 10), "pal.png", mode="P"),
        (1, 12, 10, 3),
        "uint8",
        output="out.png",
    ),
    ok(
        "png_palette_transparent",
        png_palette_transparent,
        (1, 12, 10, 3),
        "uint8",
        output="out.png",
    ),
    ok(
        "png_bilevel",
        _png(_grey(8, 8) > 100, "bw.png"),
        (1, 8, 8),
        "uint8",
        output="out.png",
    ),
    error("png_text_inside", _raw(b"not a png\n", "fake.png"), "unknown file type"),
    ok("jpeg_cmyk", jpeg_cmyk, (1, 16, 24, 3), "uint8", output="out.png"),
    error("jpeg_truncated", jpeg_truncated, "truncated or corrupt JPEG"),
    ok(
        "tiff_multipage",
        _tiff(_grey(24, 10).reshape(3, 8, 10), "pages.tif", photometric="minisblack"),
        (3, 8, 10),
        "uint8",
        output="out.tif",
    ),
    ok(
        "tiff_5_channels",
        _tiff(
            _grey(40, 6).reshape(5, 8, 6),
            "five.tif",
            photometric="minisblack",
            planarconfig="separate",
        ),
        (5, 8, 6),
        "uint8",
        output="out.tif",
    ),
    error("tiff_page_loop", tiff_page_loop, "loop"),
    error(
        "tiff_declares_huge",
        _tiff_edited("huge.tif", ImageLength=60000, ImageWidth=60000),
        "image too large",
        huge=True,
    ),
    error(
        "tiff_declares_144_mpixels",
        _tiff_edited("big.tif", ImageLength=12000, ImageWidth=12000, RowsPerStrip=12000),
        "in a file of",
        huge=True,
    ),
    error(
        "tiff_one_row_strips_missing",
        _tiff_edited("strips.tif", ImageLength=1_000_000, RowsPerStrip=1, Compression=8),
        "strips or tiles",
    ),
    error("tiff_zero_rows_per_strip", _tiff_edited("zero.tif", RowsPerStrip=0), "corrupt TIFF"),
    error("tiff_unknown_compression", _tiff_edited("comp.tif", Compression=60000), "corrupt TIFF"),
    # outputs
    error(
        "output_unknown_suffix",
        dicom_ok,
        "cannot tell the output format",
        output="out.xyz",
        info_ok=True,
    ),
    error(
        "output_folder_missing",
        dicom_ok,
        "does not exist",
        output="missing/out.nii.gz",
        info_ok=True,
    ),
    error(
        "output_unwritable_sys",
        _nifti(_volume(), "vol.nii"),
        "cannot write",
        output=lambda source, tmp: UNWRITABLE / "meddenoise-hardening.nii",
        info_ok=True,
    ),
    error(
        "output_unwritable_access",
        _nifti(_volume(), "vol.nii"),
        "not writable",
        patch=unwritable_by_access,
        info_ok=True,
    ),
    error(
        "full_disk_nifti",
        _nifti(_volume(), "vol.nii"),
        "No space left on device",
        patch=full_disk_nifti,
        info_ok=True,
    ),
    error(
        "full_disk_dicom",
        lambda f: _series(f / "ct"),
        "No space left on device",
        output="series",
        patch=full_disk_dicom,
        info_ok=True,
    ),
    error(
        "full_disk_png",
        _png(_grey(8, 8), "img.png"),
        "No space left on device",
        output="out.png",
        patch=full_disk_png,
        info_ok=True,
    ),
    error(
        "output_is_input_file",
        _nifti(_volume(), "vol.nii.gz"),
        "over the input",
        output=_same,
        args=("--overwrite",),
        info_ok=True,
    ),
    error(
        "output_is_input_folder",
        lambda f: _series(f / "ct"),
        "over the input",
        output=_same,
        args=("--overwrite",),
        info_ok=True,
    ),
    error(
        "output_holds_input",
        lambda f: _series(f / "outer" / "ct"),
        "over the input",
        output=lambda source, tmp: source.parent,
        args=("--overwrite",),
        info_ok=True,
    ),
    ok(
        "output_inside_input_folder",  # allowed, as in batch: the input files stay as they are
        lambda f: _series(f / "ct"),
        (3, 16, 16),
        "uint16",
        output=_inside("denoised"),
    ),
    ok(
        "output_beside_input_ok",
        _png(_grey(8, 8), "img.png"),
        (1, 8, 8),
        "uint8",
        output=_beside("img-denoised.png"),
    ),
    # checkpoints
    error(
        "checkpoint_pickled_object",
        dicom_ok,
        "refused",
        model=pickled_checkpoint,
        info_ok=True,
        post=not_pwned,
    ),
    error(
        "checkpoint_garbage",
        dicom_ok,
        "garbage.pt",
        model=garbage_checkpoint,
        info_ok=True,
    ),
    error(
        "checkpoint_missing",
        dicom_ok,
        "no such checkpoint",
        model=lambda f: f / "absent.pt",
        info_ok=True,
    ),
]

BY_NAME = {case.name: case for case in CASES}
assert len(BY_NAME) == len(CASES), "duplicate case names"
