"""Evaluation images: clean [0, 1] slices from a split file or from folders of images.

Items of a split file (:func:`meddenoise.train.split.load_split`) or files and series in
folders are read with :func:`meddenoise.io.read_image` and mapped to [0, 1] through the
intensity contract of inference, then kept as a few evenly spaced, non-flat slices.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import numpy.typing as npt

from meddenoise.errors import InputError

if TYPE_CHECKING:
    from meddenoise.image import MedicalImage

__all__ = ["MODALITY_FAMILIES", "EvalImage", "load_eval_images", "spread"]

F32 = npt.NDArray[np.float32]
T = TypeVar("T")


@dataclass(frozen=True)
class EvalImage:
    """One evaluation item: a file or series as clean slices in [0, 1].

    Attributes
    ----------
    name : str
        Stable name (relative path); it seeds the noise, so it must not depend on where
        the data lies on disk.
    family : str
        Reported modality (``ct``, ``mri``, ``xray``, ``dermoscopy``, ``microscopy``...).
    slices : tuple of ndarray
        ``(C, H, W)`` float32 in [0, 1], C = 1 (grey) or 3 (colour).
    """

    name: str
    family: str
    slices: tuple[F32, ...]


#: DICOM modality code -> reported family, for folder data (anything else: "other").
MODALITY_FAMILIES: dict[str, str] = {
    "CT": "ct",
    "MR": "mri",
    "CR": "xray",
    "DX": "xray",
    "RTIMAGE": "xray",
    "XA": "xray",
    "XC": "dermoscopy",
    "SM": "microscopy",
}


def load_eval_images(
    *,
    split: str | os.PathLike[str] | None = None,
    data: Sequence[str | os.PathLike[str]] = (),
    family: str | None = None,
    families: Sequence[str] | None = None,
    split_name: str = "validation",
    max_items: int | None = None,
    max_slices: int = 3,
    min_std: float = 0.01,
) -> list[EvalImage]:
    """Read evaluation images from a split file and/or folders of images.

    Parameters
    ----------
    split : path-like, optional
        A split TOML file (:func:`meddenoise.train.split.load_split`); its ``split_name``
        items are read. Names are paths relative to the deepest folder holding every
        item of the file.
    data : sequence of path-like
        Folders; each file or sub-folder (a DICOM series) in them is one item, named
        ``FOLDER/ENTRY`` by the folder's own name. Hidden entries are ignored.
    family : str, optional
        Family of the folder items; default: from the DICOM modality
        (:data:`MODALITY_FAMILIES`, else ``"other"``).
    families : sequence of str, optional
        Keep only these families.
    split_name : str
        Which split of the file to read.
    max_items : int, optional
        Items per family at most, evenly spaced in reading order (bounds the run time:
        BM3D takes seconds per colour crop and noise level).
    max_slices : int
        Slices per item at most, evenly spaced; nearly flat slices (standard deviation
        below ``min_std`` in [0, 1]) are then dropped.
    min_std : float
        See ``max_slices``.

    Returns
    -------
    list of EvalImage
        Slices mapped to [0, 1] by the inference intensity contract.

    Raises
    ------
    InputError
        When neither source is given, a folder is missing or empty, a file is unreadable,
        or nothing usable is left.
    """
    from meddenoise.io import read_image
    from meddenoise.train.split import load_split

    if split is None and not data:
        raise InputError("no evaluation data: give a split file or folders of images")
    keep = set(families) if families is not None else None
    found: list[tuple[str, str, str, str | None]] = []  # (name, family, path, modality)
    if split is not None:
        items = load_split(split)
        root = os.path.commonpath([str(item.path.parent) for item in items])
        for item in items:
            if item.split == split_name:
                name = os.path.relpath(item.path, root).replace(os.sep, "/")
                found.append((name, item.family, str(item.path), item.modality))
    for folder in (os.fspath(f) for f in data):
        if not os.path.isdir(folder):
            raise InputError(f"{folder}: not a folder")
        entries = sorted(e for e in os.listdir(folder) if not e.startswith("."))
        if not entries:
            raise InputError(f"{folder}: empty folder")
        base = os.path.basename(os.path.abspath(folder))
        for entry in entries:
            found.append((f"{base}/{entry}", family or "", os.path.join(folder, entry), None))
    known = [f for f in found if not f[1] or keep is None or f[1] in keep]
    out: list[EvalImage] = []
    for name, fam, path, modality in _at_most(known, lambda f: f[1], max_items):
        image = read_image(path, modality=modality)
        fam = fam or MODALITY_FAMILIES.get(image.modality.upper(), "other")
        if keep is None or fam in keep:
            out.append(EvalImage(name, fam, _slices(image, max_slices, min_std)))
    out = _at_most([im for im in out if im.slices], lambda im: im.family, max_items)
    if not out:
        raise InputError("no usable evaluation images (none left after the family filter)")
    return out


def spread(count: int, at_most: int) -> list[int]:
    """Return at most ``at_most`` indices of ``range(count)``, evenly spaced, ends included.

    Examples
    --------
    >>> spread(10, 3), spread(2, 5), spread(0, 3)
    ([0, 4, 9], [0, 1], [])
    """
    if count == 0:
        return []
    chosen = np.unique(np.linspace(0, count - 1, min(count, at_most)).round().astype(int))
    return [int(k) for k in chosen]


def _at_most(entries: list[T], family_of: Callable[[T], str], n: int | None) -> list[T]:
    """Keep at most ``n`` entries per family, evenly spaced; those of family "" all."""
    if n is None:
        return entries
    groups: dict[str, list[int]] = {}
    for k, entry in enumerate(entries):
        groups.setdefault(family_of(entry), []).append(k)
    kept = {
        g[i] for fam, g in groups.items() for i in (spread(len(g), n) if fam else range(len(g)))
    }
    return [entry for k, entry in enumerate(entries) if k in kept]


def _slices(image: MedicalImage, max_slices: int, min_std: float) -> tuple[F32, ...]:
    """Evenly spaced slices in [0, 1] through the series-wide mapping, as in training."""
    from meddenoise.intensity import plan_mapping, to_model

    mapping = plan_mapping(image)
    out = []
    for k in spread(image.n_slices, max_slices):
        x, _ = to_model(image, mapping, start=k, stop=k + 1)
        chunk = x[0] if image.is_color else x[0, :1]
        if float(chunk.std()) >= min_std:
            out.append(np.ascontiguousarray(chunk, dtype=np.float32))
    return tuple(out)
