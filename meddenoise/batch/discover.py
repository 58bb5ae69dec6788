"""Finding the work of a batch: volumes, images and DICOM series under a folder.

A batch item is one thing :func:`meddenoise.api.denoise_file` reads: a NIfTI,
MetaImage, PNG, JPEG or TIFF file, or one DICOM series (the DICOM files directly inside
one folder that share a SeriesInstanceUID). Items are named by their path relative to
the input folder, in a sorted order, so every run, every shard and every machine sees
the same list.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from meddenoise.errors import InputError

__all__ = ["OUTPUT_SUFFIXES", "BatchItem", "find_items", "output_name", "shard_items"]

#: File name suffixes of the formats a batch reads (DICOM is found by content as well).
_READ_SUFFIXES: dict[str, str] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".mha": "metaimage",
    ".mhd": "metaimage",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
}

#: Suffix of the file written for each output format (DICOM series are folders).
OUTPUT_SUFFIXES: dict[str, str] = {
    "nifti": ".nii.gz",
    "metaimage": ".mha",
    "png": ".png",
    "jpeg": ".jpg",
    "tiff": ".tif",
}

#: Files never taken as input: our own manifests and the atomic writer's leftovers.
_IGNORED = ("manifest*.jsonl", ".*.partial", "DICOMDIR")


@dataclass(frozen=True, order=True)
class BatchItem:
    """One unit of batch work.

    Attributes
    ----------
    source : str
        Path relative to the input folder (POSIX separators): a file, or the folder
        holding a DICOM series.
    format : str
        Its format (``"dicom"`` for a series).
    series_uid : str or None
        The SeriesInstanceUID of a DICOM item.
    label : str
        What names the item's output: the file name, the series folder's name, or
        ``<folder>/series-<hash>`` where a folder holds several series.
    """

    source: str
    format: str
    series_uid: str | None = None
    label: str = ""

    @property
    def key(self) -> str:
        """A stable identifier: the source, plus the series where a folder holds several."""
        if self.series_uid is None:
            return self.source
        return f"{self.source}#{_uid_hash(self.series_uid)}"


def shard_items(items: list[BatchItem], index: int, count: int) -> list[BatchItem]:
    """Return shard ``index`` (0 to ``count - 1``) of ``count``: a deterministic, even split.

    Items are ordered by a hash of their key and dealt out in turn, so shard sizes
    differ by at most one and neighbouring folders (often similar in size) spread over
    the shards. Every shard must see the same items: do not change the input folder
    while the shards of one job run.

    >>> items = [BatchItem(f"v{i}.nii", "nifti", label=f"v{i}.nii") for i in range(5)]
    >>> [len(shard_items(items, k, 2)) for k in range(2)]
    [3, 2]
    >>> sorted(shard_items(items, 0, 2) + shard_items(items, 1, 2)) == sorted(items)
    True
    """
    ranked = sorted(items, key=lambda item: hashlib.sha256(item.key.encode("utf-8")).digest())
    return sorted(ranked[index::count], key=lambda item: item.key)


def _uid_hash(uid: str) -> str:
    return hashlib.sha256(uid.encode("ascii", "replace")).hexdigest()[:10]


def output_name(item: BatchItem, output_format: str | None) -> str:
    """Return the item's output path relative to the output folder.

    The same format as the input mirrors its name (a DICOM series gives a folder of the
    same name); another format replaces the suffix (a DICOM series gives one file).

    >>> output_name(BatchItem("a/b.nii.gz", "nifti", label="a/b.nii.gz"), None)
    'a/b.nii.gz'
    >>> output_name(BatchItem("a/b.nii.gz", "nifti", label="a/b.nii.gz"), "metaimage")
    'a/b.mha'
    >>> output_name(BatchItem("a/ct", "dicom", "1.2.3", label="a/ct"), "nifti")
    'a/ct.nii.gz'
    """
    fmt = output_format or item.format
    if fmt == item.format and fmt != "dicom":
        return item.label
    stem = item.label
    if item.format != "dicom":
        for suffix in _READ_SUFFIXES:
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
                break
    if fmt == "dicom":
        return stem
    if fmt not in OUTPUT_SUFFIXES:
        raise InputError(
            f"unknown output format {fmt!r} (one of: dicom, {', '.join(OUTPUT_SUFFIXES)})"
        )
    return stem + OUTPUT_SUFFIXES[fmt]


def find_items(
    root: str | os.PathLike[str],
    *,
    pattern: str | None = None,
    exclude: str | os.PathLike[str] | None = None,
) -> list[BatchItem]:
    """List the batch items under ``root``, sorted by key.

    Parameters
    ----------
    root : path-like
        The input folder (searched recursively; symbolic links to folders are not
        followed, so a link loop cannot trap the search).
    pattern : str, optional
        A glob on paths relative to ``root`` (``**`` matches any number of folders):
        only matching files are taken. Default: every file of a readable format.
    exclude : path-like, optional
        A folder to leave out (the output folder when it lies inside the input).

    Returns
    -------
    list of BatchItem

    Raises
    ------
    InputError
        If ``root`` is not a folder.
    """
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"{base}: not a folder")
    skip = Path(exclude).resolve() if exclude is not None else None
    items: list[BatchItem] = []
    for folder, subfolders, names in _walk(base, skip):
        rel_folder = folder.relative_to(base).as_posix()
        dicom_files: list[Path] = []
        for name in names:
            rel = name if rel_folder == "." else f"{rel_folder}/{name}"
            if any(fnmatch.fnmatch(name, ignored) for ignored in _IGNORED):
                continue
            if pattern is not None and not _matches(rel, pattern):
                continue
            fmt = _format_of(folder / name)
            if fmt == "dicom":
                dicom_files.append(folder / name)
            elif fmt is not None:
                items.append(BatchItem(rel, fmt, label=rel))
        if dicom_files:
            nested = bool(subfolders)
            items.extend(_series_items(dicom_files, rel_folder, folder.name, nested=nested))
    return sorted(items, key=lambda item: item.key)


def _walk(base: Path, skip: Path | None) -> Iterator[tuple[Path, list[str], list[str]]]:
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        folder = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and (skip is None or (folder / d).resolve() != skip)
        )
        yield folder, dirnames, sorted(filenames)


def _matches(rel: str, pattern: str) -> bool:
    path = PurePosixPath(rel)
    if path.match(pattern):
        return True
    # PurePosixPath.match treats "**" like "*" before Python 3.13: try the pattern with
    # its leading "**/" dropped, so "**/*.nii.gz" also matches files at the top level.
    trimmed = pattern
    while trimmed.startswith("**/"):
        trimmed = trimmed[3:]
        if path.match(trimmed) or fnmatch.fnmatch(rel, trimmed):
            return True
    return fnmatch.fnmatch(rel, pattern)


def _format_of(path: Path) -> str | None:
    if path.is_symlink() and not path.exists():
        return None
    lower = path.name.lower()
    for suffix, fmt in _READ_SUFFIXES.items():
        if lower.endswith(suffix):
            return fmt
    if lower.endswith((".dcm", ".dicom")):
        return "dicom"
    try:
        with path.open("rb") as handle:
            head = handle.read(132)
    except OSError:
        return None
    if head[128:132] == b"DICM":
        return "dicom"
    return None


def _series_items(
    files: list[Path], rel_folder: str, folder_name: str, *, nested: bool
) -> list[BatchItem]:
    """One item per image series among the DICOM files of one folder.

    A folder's only series is named after the folder; several series, or a series in a
    folder that also has subfolders (whose outputs go inside the same output folder),
    are named ``<folder>/series-<hash of the SeriesInstanceUID>``.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    series: set[str] = set()
    unreadable = 0
    for path in files:
        try:
            ds = pydicom.dcmread(
                path,
                stop_before_pixels=True,
                specific_tags=["SeriesInstanceUID", "Rows", "Columns"],
            )
        except (InvalidDicomError, OSError, ValueError, EOFError, KeyError):
            unreadable += 1
            continue
        if "Rows" in ds and "Columns" in ds:
            series.add(str(ds.get("SeriesInstanceUID") or ""))
    source = rel_folder if rel_folder != "." else "."
    if not series:
        # No image series: still an item, so that the run reports why it was not denoised.
        return [BatchItem(source, "dicom", None, _label(rel_folder, folder_name))]
    if len(series) == 1 and not nested:
        (uid,) = series
        return [BatchItem(source, "dicom", uid or None, _label(rel_folder, folder_name))]
    return [
        BatchItem(source, "dicom", uid, _join(rel_folder, f"series-{_uid_hash(uid)}"))
        for uid in sorted(series)
    ]


def _label(rel_folder: str, folder_name: str) -> str:
    return rel_folder if rel_folder != "." else folder_name


def _join(rel_folder: str, name: str) -> str:
    return name if rel_folder == "." else f"{rel_folder}/{name}"
