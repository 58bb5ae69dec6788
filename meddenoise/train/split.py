"""The data split file: which images train the model and which validate it.

A split is a TOML file (``configs/split.toml`` is the default model's)::

    version = 1
    root = "../shared/data"          # relative to the split file's repository
    [[item]]
    path = "ct/philips_std_1mm.nii.gz"
    modality = "CT"                 # DICOM code, also the reader's hint
    family = "ct"                   # reported modality: ct, mri, xray, dermoscopy, microscopy
    split = "train"                 # or "validation"
    group = "philips-S21570"        # patient or series: a group never straddles splits

Splitting by group (patient or series), never by slice, keeps slices of one volume out of
both sides.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from meddenoise.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["FAMILIES", "SPLITS", "SplitItem", "load_split"]

FAMILIES = ("ct", "mri", "xray", "dermoscopy", "microscopy")
SPLITS = ("train", "validation")


@dataclass(frozen=True)
class SplitItem:
    """One image, volume or series of the split.

    Attributes
    ----------
    path : Path
        Absolute path of the file or series folder.
    modality : str
        DICOM modality code, passed to the reader as its hint.
    family : str
        One of :data:`FAMILIES`.
    split : str
        ``"train"`` or ``"validation"``.
    group : str
        Patient or series it belongs to.
    """

    path: Path
    modality: str
    family: str
    split: str
    group: str


def load_split(
    path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None
) -> list[SplitItem]:
    """Read and check a split file.

    Parameters
    ----------
    path : path-like
        The TOML file.
    root : path-like, optional
        Folder the item paths are relative to; default: the file's ``root`` entry,
        relative to the folder above the split file's folder (the repository).

    Returns
    -------
    list of SplitItem

    Raises
    ------
    InputError
        For a malformed file, an unknown family or split, or a group in both splits.
    """
    source = Path(path)
    try:
        data = tomllib.loads(source.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{source}: cannot read the split file ({exc})") from None
    repository = source.resolve().parent.parent
    base = Path(root) if root is not None else repository / data.get("root", ".")
    items = []
    for k, entry in enumerate(data.get("item", [])):
        try:
            item = SplitItem(
                path=(base / entry["path"]).resolve(),
                modality=str(entry["modality"]),
                family=str(entry["family"]),
                split=str(entry["split"]),
                group=str(entry["group"]),
            )
        except KeyError as exc:
            raise InputError(f"{source}: item {k + 1} lacks {exc.args[0]!r}") from None
        if item.family not in FAMILIES:
            raise InputError(f"{source}: item {k + 1}: unknown family {item.family!r}")
        if item.split not in SPLITS:
            raise InputError(f"{source}: item {k + 1}: unknown split {item.split!r}")
        items.append(item)
    if not items:
        raise InputError(f"{source}: the split lists no items")
    sides: dict[str, set[str]] = defaultdict(set)
    for item in items:
        sides[item.group].add(item.split)
    straddling = sorted(group for group, splits in sides.items() if len(splits) > 1)
    if straddling:
        raise InputError(f"{source}: groups in both splits: {', '.join(straddling)}")
    return items
