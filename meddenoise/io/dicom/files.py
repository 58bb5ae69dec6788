"""Finding DICOM instances in a file, a folder, a zip file or a DICOMDIR, and reading them.

An input path becomes an :class:`InstanceStore`: a list of :class:`InstanceFile` and a way
to read each one, first its header only (everything before the pixel data, to group and
sort cheaply), later in full (one instance at a time, to decode its pixels). Zip members
are read into memory, never extracted to disk, so a member name cannot escape anywhere.
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

import pydicom
from pydicom.dataset import Dataset, FileDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from meddenoise.errors import InputError

__all__ = [
    "DICOMDIR_SOP_CLASS",
    "MAX_MEMBER_BYTES",
    "InstanceFile",
    "InstanceStore",
    "open_instances",
]

#: Media Storage Directory Storage: the SOP class of a DICOMDIR file.
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"

_SKIPPED_NAMES = ("DICOMDIR",)

#: Largest zip member read into memory (a bound on what a crafted archive can claim).
MAX_MEMBER_BYTES = 4 * 2**30


@dataclass(frozen=True)
class InstanceFile:
    """One candidate DICOM instance.

    Attributes
    ----------
    path : Path
        The file; for a zip member, the zip file's path joined with the member's name
        (cleaned of ``..`` and absolute parts), which names it in messages only.
    member : str or None
        The zip member's name as stored in the archive.
    """

    path: Path
    member: str | None = None


@dataclass
class InstanceStore:
    """The instances an input path holds and the means to read them.

    Attributes
    ----------
    path : Path
        The input path.
    kind : str
        ``"file"``, ``"folder"``, ``"zip file"`` or ``"DICOMDIR"``; messages use it.
    files : list of InstanceFile
        The candidates, in a stable (sorted) order.
    """

    path: Path
    kind: str
    files: list[InstanceFile]
    _zip: zipfile.ZipFile | None = field(default=None, repr=False)

    def read_header(self, item: InstanceFile) -> Dataset | None:
        """Read the header of an instance (no pixel data).

        Returns None for a file that is not DICOM when the input is a folder or a zip
        file; raises for an explicitly named file that is not DICOM or is unreadable.
        """
        explicit = self.kind in ("file", "DICOMDIR")
        return self._read(item, header_only=True, explicit=explicit)

    def read_dataset(self, item: InstanceFile) -> FileDataset:
        """Read an instance in full, pixel data included."""
        ds = self._read(item, header_only=False, explicit=True)
        assert ds is not None  # explicit=True raises instead of returning None
        return ds

    def size(self, item: InstanceFile) -> int:
        """Size in bytes of an instance's file (a zip member: its declared size)."""
        try:
            if self._zip is not None and item.member is not None:
                return int(self._zip.getinfo(item.member).file_size)
            return item.path.stat().st_size
        except (OSError, KeyError) as exc:
            raise InputError(f"{item.path}: cannot read ({exc})") from None

    def _read(self, item: InstanceFile, *, header_only: bool, explicit: bool) -> FileDataset | None:
        try:
            with self._open(item, whole=not header_only) as handle:
                return _parse(handle, item.path, header_only=header_only, explicit=explicit)
        except OSError as exc:
            raise InputError(f"{item.path}: cannot read ({exc.strerror or exc})") from None

    @contextmanager
    def _open(self, item: InstanceFile, *, whole: bool) -> Iterator[IO[bytes]]:
        """Open a file, or a zip member: streamed for a header, in memory for all of it."""
        if self._zip is None or item.member is None:
            with item.path.open("rb") as handle:
                yield handle
            return
        try:
            info = self._zip.getinfo(item.member)
            if info.file_size > MAX_MEMBER_BYTES:
                raise InputError(
                    f"{item.path}: zip member of {info.file_size} bytes is larger than "
                    f"{MAX_MEMBER_BYTES} bytes; extract the archive first"
                )
            if whole:
                yield io.BytesIO(self._zip.read(info))
            else:
                with self._zip.open(info) as handle:
                    yield handle
        except (RuntimeError, zipfile.BadZipFile, NotImplementedError, EOFError, zlib.error) as exc:
            raise InputError(f"{item.path}: cannot read zip member ({exc})") from None


def _parse(
    handle: IO[bytes], name: Path, *, header_only: bool, explicit: bool
) -> FileDataset | None:
    """Parse a DICOM stream; None (or InputError when ``explicit``) for non-DICOM."""
    head = handle.read(132)
    handle.seek(0)
    force = False
    if head[128:132] != b"DICM":
        if not _looks_like_raw_dicom(head):
            if explicit:
                raise InputError(f"{name}: not a DICOM file (no 'DICM' marker at byte 128)")
            return None
        force = True
    try:
        ds = pydicom.dcmread(handle, stop_before_pixels=header_only, force=force)
        _convert_all(ds)
    except InvalidDicomError as exc:
        if explicit:
            raise InputError(f"{name}: not a DICOM file ({_one_line(exc)})") from None
        return None
    except _MalformedElementError as exc:
        raise InputError(f"{name}: malformed DICOM file ({exc})") from None
    except Exception as exc:
        raise InputError(f"{name}: malformed or truncated DICOM file ({_one_line(exc)})") from None
    return ds


def _convert_all(ds: Dataset) -> None:
    """Decode every element now, so that a malformed value fails here as bad input.

    pydicom converts raw elements on first access: without this, an unknown VR or an
    undecodable value would raise later, anywhere an attribute is read. What pydicom
    warns about meanwhile (invalid values of elements the reader may never use) is not
    shown: its messages quote the values, patient data included. An element that cannot
    be decoded is named by its tag, without its value.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = getattr(ds, "file_meta", None)
        for part in (meta, ds) if meta is not None else (ds,):
            _convert(part)


def _convert(ds: Dataset) -> None:
    for tag in list(ds.keys()):
        try:
            elem = ds[tag]
        except Exception as exc:
            raw = ds.get_item(tag)
            vr = getattr(raw, "VR", None) or "??"
            raise _MalformedElementError(f"element {tag} (VR {vr}) cannot be decoded") from exc
        if elem.VR == "SQ" and isinstance(elem.value, Sequence):
            for item in elem.value:
                _convert(item)


class _MalformedElementError(ValueError):
    """An element whose value pydicom cannot decode (the message names it, not its value)."""


def _looks_like_raw_dicom(head: bytes) -> bool:
    """DICOM without preamble: starts with a group 0002 or 0008 element, little endian."""
    return len(head) >= 8 and head[0:2] in (b"\x02\x00", b"\x08\x00") and head[3] == 0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] if text else type(exc).__name__


@contextmanager
def open_instances(path: Path) -> Iterator[InstanceStore]:
    """Find the DICOM instances a path holds.

    Parameters
    ----------
    path : Path
        A DICOM file, a folder (searched recursively; hidden files are skipped), a zip
        file or a DICOMDIR (a file named ``DICOMDIR`` or of the Media Storage Directory
        SOP class).

    Yields
    ------
    InstanceStore
        Valid while the context is open (a zip file stays open).

    Raises
    ------
    InputError
        If the path does not exist, the zip file is corrupt or a DICOMDIR names a file
        outside its folder or one that does not exist.
    """
    path = Path(path)
    if path.is_dir():
        yield InstanceStore(path, "folder", _walk_folder(path))
        return
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder")
    if _is_zip(path):
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, NotImplementedError, ValueError, EOFError) as exc:
            raise InputError(f"{path}: corrupt zip file ({exc})") from None
        with archive:
            yield InstanceStore(path, "zip file", _zip_members(path, archive), archive)
        return
    if path.name.upper() == "DICOMDIR" or _is_dicomdir(path):
        yield InstanceStore(path, "DICOMDIR", _dicomdir_files(path))
        return
    yield InstanceStore(path, "file", [InstanceFile(path)])


def _is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(132)
    return head[128:132] != b"DICM" and zipfile.is_zipfile(path)


def _is_dicomdir(path: Path) -> bool:
    try:
        meta = pydicom.filereader.read_file_meta_info(path)
        return str(meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_SOP_CLASS
    except Exception:  # not DICOM, or a malformed meta: read as a plain file later
        return False


def _walk_folder(root: Path) -> list[InstanceFile]:
    found: list[InstanceFile] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or name.upper() in _SKIPPED_NAMES:
                continue
            file = Path(folder, name)
            if file.is_file():
                found.append(InstanceFile(file))
    return found


def _zip_members(path: Path, archive: zipfile.ZipFile) -> list[InstanceFile]:
    found: list[InstanceFile] = []
    for info in sorted(archive.infolist(), key=lambda i: i.filename):
        parts = [p for p in PurePosixPath(info.filename.replace("\\", "/")).parts]
        safe = [p for p in parts if p not in ("", ".", "..", "/") and ":" not in p]
        if not safe or info.is_dir() or any(p.startswith(".") or p == "__MACOSX" for p in safe):
            continue
        if safe[-1].upper() in _SKIPPED_NAMES:
            continue
        found.append(InstanceFile(path.joinpath(*safe), info.filename))
    return found


def _dicomdir_files(path: Path) -> list[InstanceFile]:
    try:
        ds = pydicom.dcmread(path)
        _convert_all(ds)
    except Exception as exc:
        raise InputError(f"{path}: unreadable DICOMDIR ({_one_line(exc)})") from None
    found: list[InstanceFile] = []
    seen: set[Path] = set()
    records = ds.get("DirectoryRecordSequence")
    for record in records if isinstance(records, Sequence) else []:
        ids = record.get("ReferencedFileID")
        if not ids:
            continue
        parts = [str(p) for p in ids] if isinstance(ids, (list, MultiValue)) else [str(ids)]
        if any(p in ("", ".", "..") or "/" in p or "\\" in p or ":" in p for p in parts):
            raise InputError(f"{path}: record names a file outside its folder: {'/'.join(parts)}")
        file = path.parent.joinpath(*parts)
        if not file.is_file():
            raise InputError(f"{path}: references {file}, which does not exist")
        if file not in seen:
            seen.add(file)
            found.append(InstanceFile(file))
    return found
