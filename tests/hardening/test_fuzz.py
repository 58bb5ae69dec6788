"""Property-based tests of the readers: any file gives an image or an InputError.

Two families, over every reader (DICOM files and zip files, NIfTI and ``.nii.gz``,
MetaImage, PNG, JPEG, TIFF):

- mutations of valid seed files (:mod:`tests.hardening.seeds`): bit flips, truncation,
  duplicated and deleted chunks, bytes overwritten with boundary values;
- structured files whose header fields hypothesis chooses: DICOM Rows, Columns, Bits*,
  SamplesPerPixel, PhotometricInterpretation, NumberOfFrames, transfer syntax and pixel
  data length; NIfTI dims, datatype, vox_offset, scaling and affines; MetaImage fields
  and data files; PNG IHDR and chunks; TIFF tags; zip member names.

:func:`meddenoise.io.read_image` must return a valid image or raise
:class:`~meddenoise.errors.InputError`; any other exception, or a read over
:data:`TIME_LIMIT` seconds, fails. The default run tries :data:`QUICK` examples per
test; the slow run :data:`THOROUGH` (14 tests, over 10,000 examples in all).
Hypothesis is derandomized and keeps no example database, so CI runs are reproducible.
"""

from __future__ import annotations

import gzip
import io
import signal
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.encaps import encapsulate
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    RLELossless,
)

from meddenoise.errors import InputError
from meddenoise.image import MedicalImage
from meddenoise.io import read_image
from tests.hardening.seeds import dicom_header, seeds, seeds_of

QUICK = 30
THOROUGH = 800
#: Longest a single read may take (seconds) before it counts as a hang.
TIME_LIMIT = 30

pytestmark = pytest.mark.filterwarnings("ignore")


def _settings(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"read_image took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check_read(path: Path) -> MedicalImage | None:
    """Read ``path``: a valid image, or None where an InputError refused it."""
    try:
        with _time_limit(TIME_LIMIT):
            image = read_image(path)
    except InputError as exc:
        message = str(exc)
        assert message.strip(), "an empty message"
        return None
    assert isinstance(image, MedicalImage)
    assert image.pixels.ndim in (3, 4)
    assert image.n_slices >= 1
    assert image.pixels.shape[1] >= 1
    assert image.pixels.shape[2] >= 1
    assert len(image.slope) == len(image.intercept) == image.n_slices
    return image


def _write(workdir: Path, suffix: str, data: bytes, name: str = "case") -> Path:
    path = workdir / f"{name}{suffix}"
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------ mutations

_BOUNDARY = [b"\xff\xff\xff\xff", b"\0\0\0\0", b"\xff\xff\xff\x7f", b"\0\0\0\x80", b"\x01\0"]
_MUTATION = st.tuples(
    st.sampled_from(["flip", "truncate", "duplicate", "delete", "overwrite", "insert"]),
    st.integers(0, 2**31),
    st.one_of(st.sampled_from(_BOUNDARY), st.binary(min_size=1, max_size=8)),
)


def mutate(data: bytes, mutations: list[tuple[str, int, bytes]]) -> bytes:
    """Apply mutations; each position is taken modulo the current length."""
    out = bytearray(data)
    for op, position, value in mutations:
        at = position % (len(out) + 1)
        if op == "flip" and at < len(out):
            out[at] ^= 1 << (value[0] % 8)
        elif op == "truncate":
            del out[at:]
        elif op == "duplicate":
            out[at:at] = out[at : at + 1 + value[0] * 4]
        elif op == "delete":
            del out[at : at + 1 + value[0]]
        elif op == "overwrite":
            out[at : at + len(value)] = value
        else:
            out[at:at] = value
    return bytes(out)


MUTATED = {
    "dicom": (".dcm",),
    "nifti": (".nii",),
    "nifti_gz": (".nii.gz",),
    "metaimage": (".mha",),
    "png": (".png",),
    "jpeg": (".jpg",),
    "tiff": (".tif",),
    "zip": (".zip",),
}


def _mutated(fmt: str, workdir: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(seeds_of(MUTATED[fmt])), label="seed")
    suffix, content = seeds()[name]
    mutations = data.draw(st.lists(_MUTATION, min_size=1, max_size=4), label="mutations")
    check_read(_write(workdir, suffix, mutate(content, mutations)))


@pytest.mark.parametrize("fmt", list(MUTATED))
@_settings(QUICK)
@given(data=st.data())
def test_mutated_files(fmt: str, workdir: Path, data: st.DataObject) -> None:
    _mutated(fmt, workdir, data)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(MUTATED))
@_settings(THOROUGH)
@given(data=st.data())
def test_mutated_files_thoroughly(fmt: str, workdir: Path, data: st.DataObject) -> None:
    _mutated(fmt, workdir, data)


def test_unmutated_seeds_are_read(workdir: Path) -> None:
    for name, (suffix, content) in seeds().items():
        assert check_read(_write(workdir, suffix, content, name="seed")) is not None, name


# ---------------------------------------------------------------------- structured

#: Big endian is left to the mutated seeds: pydicom does not re-encode across endianness.
_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    RLELossless,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
]
_SIDES = st.one_of(st.sampled_from([0, 1, 2, 3, 16, 255, 4096, 65535]), st.integers(0, 65535))


@st.composite
def dicom_files(draw: st.DrawFn) -> bytes:
    """The cropped CT (or an RLE/JPEG 2000 seed) with hypothesis-chosen pixel attributes."""
    ds = dicom_header(draw(st.sampled_from(["ct_crop", "MR_small_RLE.dcm", "JPEG2000.dcm"])))
    syntax = draw(st.sampled_from(_SYNTAXES))
    ds.Rows = draw(_SIDES)
    ds.Columns = draw(_SIDES)
    ds.BitsAllocated = draw(st.sampled_from([0, 1, 7, 8, 12, 16, 24, 32, 64, 65535]))
    ds.BitsStored = draw(st.integers(0, 70))
    ds.HighBit = draw(st.integers(0, 70))
    ds.SamplesPerPixel = draw(st.sampled_from([0, 1, 2, 3, 4]))
    ds.PixelRepresentation = draw(st.sampled_from([0, 1, 2]))
    ds.PhotometricInterpretation = draw(
        st.sampled_from(
            [
                *("MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422"),
                *("PALETTE COLOR", "YBR_RCT", "HSV", ""),
            ]
        )
    )
    frames = draw(st.sampled_from([None, "", "-1", "0", "1", "2", "3", "65536", "2147483647"]))
    if frames is None:
        ds.pop("NumberOfFrames", None)
    else:
        ds.NumberOfFrames = frames
    planar = draw(st.sampled_from([None, 0, 1, 2]))
    if planar is not None:
        ds.PlanarConfiguration = planar
    for keyword in ("RescaleSlope", "RescaleIntercept"):
        value = draw(st.sampled_from([None, "0", "1", "-2.5", "nan", "inf", "-inf", "1e308"]))
        if value is not None:
            setattr(ds, keyword, value)
    length = draw(st.integers(0, 4096))
    body = (bytes(range(256)) * (length // 256 + 1))[:length]
    ds.file_meta.TransferSyntaxUID = syntax
    if syntax.is_compressed:
        count = draw(st.integers(1, 3))
        ds.PixelData = encapsulate([(body + b"\0\0")[: max(2, length // count)]] * count)
    else:
        ds.PixelData = body + b"\0" * (length % 2)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


_NIFTI_TYPES = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 2304, 7, 99]


@st.composite
def nifti_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """A NIfTI-1 header with hypothesis-chosen dims, datatype, offsets, scaling, forms."""
    header = bytearray(seeds()["nifti_int16"][1][:352])
    ndim = draw(st.integers(-1, 8))
    dims = draw(st.lists(st.sampled_from([-1, 0, 1, 2, 3, 7, 255, 32767]), min_size=7, max_size=7))
    header[40:56] = struct.pack("<8h", ndim, *dims)
    header[70:72] = struct.pack("<h", draw(st.sampled_from(_NIFTI_TYPES)))
    header[72:74] = struct.pack("<h", draw(st.sampled_from([0, 1, 8, 16, 32, 64, 128])))
    floats = st.sampled_from([0.0, 1.0, -1.0, 0.5, 1e30, float("nan"), float("inf")])
    pixdim = draw(st.lists(floats, min_size=8, max_size=8))
    header[76:108] = struct.pack("<8f", *pixdim)
    header[108:112] = struct.pack("<f", draw(st.sampled_from([0.0, 352.0, 351.0, 1e9, -8.0])))
    header[112:120] = struct.pack("<2f", draw(floats), draw(floats))
    header[252:256] = struct.pack("<2h", draw(st.integers(-1, 5)), draw(st.integers(-1, 5)))
    header[256:280] = struct.pack("<6f", *draw(st.lists(floats, min_size=6, max_size=6)))
    header[280:328] = struct.pack("<12f", *draw(st.lists(floats, min_size=12, max_size=12)))
    header[344:348] = draw(st.sampled_from([b"n+1\0", b"ni1\0", b"n+2\0", b"xxxx"]))
    data = bytes(header) + bytes(draw(st.integers(0, 2048)))
    if draw(st.booleans()):
        return ".nii.gz", gzip.compress(data, mtime=0)
    return ".nii", data


_META_TYPES = ["MET_UCHAR", "MET_SHORT", "MET_FLOAT", "MET_DOUBLE", "MET_ULONG", "MET_CHAR", "X"]


@st.composite
def metaimage_files(draw: st.DrawFn) -> tuple[str, dict[str, bytes]]:
    """A MetaImage header with hypothesis-chosen fields, and its data file(s)."""
    local = draw(st.booleans())
    ndims = draw(st.integers(0, 5))
    sizes = draw(st.lists(st.sampled_from([0, 1, 2, 3, 5, 65536, -1]), min_size=1, max_size=5))
    element = draw(st.sampled_from(_META_TYPES))
    compressed = draw(st.booleans())
    data = bytes(draw(st.integers(0, 600)))
    payload = zlib.compress(data) if compressed and draw(st.booleans()) else data
    data_file = (
        "LOCAL"
        if local
        else draw(
            st.sampled_from(
                [
                    "img.raw",
                    "../img.raw",
                    "/etc/hostname",
                    "s%d.raw 1 3",
                    "s%d.raw 1 3 1",
                    "LIST",
                    "",
                ]
            )
        )
    )
    fields = [
        "ObjectType = Image",
        f"NDims = {ndims}",
        f"DimSize = {' '.join(map(str, sizes))}",
        f"ElementType = {element}",
        f"CompressedData = {compressed}",
        f"ElementNumberOfChannels = {draw(st.sampled_from(['1', '3', '0', '-1', 'x']))}",
        f"ElementSpacing = {draw(st.sampled_from(['1 1 1', '0 0 0', 'nan 1', '']))}",
        f"ElementDataFile = {data_file}",
    ]
    header = "\n".join(fields).encode() + b"\n"
    if local:
        return ".mha", {"case.mha": header + payload}
    files = {"case.mhd": header, "img.raw": payload}
    files.update({f"s{k}.raw": payload for k in (1, 2, 3)})
    return ".mhd", files


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@st.composite
def png_files(draw: st.DrawFn) -> bytes:
    """A PNG with hypothesis-chosen IHDR fields and chunks (CRCs correct)."""
    sides = st.sampled_from([0, 1, 2, 5, 17, 3000, 2**16, 2**31 - 1, 2**32 - 1])
    width, height = draw(sides), draw(sides)
    depth = draw(st.sampled_from([1, 2, 4, 8, 16, 0, 3, 32]))
    colour = draw(st.sampled_from([0, 2, 3, 4, 6, 1, 7]))
    ihdr = struct.pack(">2I5B", width, height, depth, colour, 0, 0, draw(st.sampled_from([0, 1])))
    chunks = [_chunk(b"IHDR", ihdr)]
    if draw(st.booleans()):
        chunks.append(_chunk(b"PLTE", bytes(draw(st.sampled_from([0, 3, 9, 768, 770])))))
    if draw(st.booleans()):
        chunks.append(_chunk(b"tRNS", bytes(draw(st.integers(0, 10)))))
    raw = bytes(draw(st.integers(0, 3000)))
    chunks.append(_chunk(b"IDAT", zlib.compress(raw) if draw(st.booleans()) else raw[:100]))
    chunks.append(_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


_TIFF_TAGS = [256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 320, 322, 323, 338, 339]


@st.composite
def tiff_files(draw: st.DrawFn) -> bytes:
    """A seed TIFF with hypothesis-chosen values (and types) in its first page's tags."""
    data = bytearray(seeds()[draw(st.sampled_from(seeds_of((".tif",))))][1])
    at = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[at : at + 2])[0]
    for _ in range(draw(st.integers(1, 3))):
        entry = at + 2 + 12 * draw(st.integers(0, count - 1))
        data[entry : entry + 2] = struct.pack("<H", draw(st.sampled_from(_TIFF_TAGS)))
        if draw(st.booleans()):
            data[entry + 2 : entry + 4] = struct.pack("<H", draw(st.integers(0, 18)))
        if draw(st.booleans()):
            data[entry + 4 : entry + 8] = struct.pack("<I", draw(st.sampled_from([0, 1, 2, 5])))
        data[entry + 8 : entry + 12] = struct.pack(
            "<I", draw(st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2, 3, 8])))
        )
    return bytes(data)


_MEMBER_NAMES = st.one_of(
    st.sampled_from(["", "/", "..", "../../x.dcm", "/etc/x.dcm", "C:\\x.dcm", ".hidden"]),
    st.text(st.sampled_from("ab./\\:_"), max_size=12),
)


@st.composite
def zip_files(draw: st.DrawFn) -> bytes:
    """Seed DICOM members under hypothesis-chosen names (traversal, absolute, empty)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for _ in range(draw(st.integers(1, 3))):
            content = seeds()[draw(st.sampled_from(["ct_crop", "JPEG2000.dcm", "nifti_int16"]))]
            archive.writestr(zipfile.ZipInfo(draw(_MEMBER_NAMES)), content[1])
    return buffer.getvalue()


def _structured(kind: str, workdir: Path, data: st.DataObject) -> None:
    if kind == "dicom":
        path = _write(workdir, ".dcm", data.draw(dicom_files()))
    elif kind == "nifti":
        path = _write(workdir, *data.draw(nifti_files()))
    elif kind == "metaimage":
        suffix, files = data.draw(metaimage_files())
        folder = workdir / "meta"
        folder.mkdir(exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for name, content in files.items():
            (folder / name).write_bytes(content)
        path = folder / f"case{suffix}"
    elif kind == "png":
        path = _write(workdir, ".png", data.draw(png_files()))
    elif kind == "tiff":
        path = _write(workdir, ".tif", data.draw(tiff_files()))
    else:
        before = sorted(p.name for p in workdir.parent.iterdir())
        path = _write(workdir, ".zip", data.draw(zip_files()))
        check_read(path)
        assert sorted(p.name for p in workdir.parent.iterdir()) == before
        return
    check_read(path)


STRUCTURED = ["dicom", "nifti", "metaimage", "png", "tiff", "zip"]


@pytest.mark.parametrize("kind", STRUCTURED)
@_settings(QUICK)
@given(data=st.data())
def test_structured_files(kind: str, workdir: Path, data: st.DataObject) -> None:
    _structured(kind, workdir, data)


@pytest.mark.slow
@pytest.mark.parametrize("kind", STRUCTURED)
@_settings(THOROUGH)
@given(data=st.data())
def test_structured_files_thoroughly(kind: str, workdir: Path, data: st.DataObject) -> None:
    _structured(kind, workdir, data)


def test_mutate_is_deterministic_and_bounded() -> None:
    data = bytes(range(100))
    assert mutate(data, [("truncate", 10, b"\0")]) == data[:10]
    assert mutate(data, [("overwrite", 0, b"\xff\xff")])[:3] == b"\xff\xff\x02"
    assert len(mutate(data, [("insert", 5, b"abc")])) == 103
    assert mutate(b"", [("flip", 3, b"\x01"), ("delete", 0, b"\x05")]) == b""
    assert np.frombuffer(mutate(data, [("flip", 1, b"\x00")]), np.uint8)[1] == 0
