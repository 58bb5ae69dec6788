"""Paired low-dose / full-dose CT slices in the model's range, and patches drawn from them.

Both series go through the same intensity contract as the default model
(:mod:`meddenoise.intensity`): Hounsfield units mapped through the fixed CT window, so a
fine-tuned model sees exactly the units the model it starts from was trained on. Data
whose values are not HU (the LCD-CT phantom stores HU + 1000) give their offset:
``HU = value + hu_offset``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from meddenoise.errors import InputError
from meddenoise.intensity import CT_WINDOW
from meddenoise.ldct.pairs import pair_slices, split_blocks
from meddenoise.train.patches import SeededSampler, random_view

__all__ = ["PairSampler", "PairedSeries", "load_pair"]

F32 = npt.NDArray[np.float32]


@dataclass
class PairedSeries:
    """The matched slices of one low-dose / full-dose pair, in [0, 1].

    Attributes
    ----------
    name : str
        A label (the low-dose folder's name and the full-dose folder's name).
    low, full : ndarray
        ``(N, H, W)`` float32 in [0, 1], slice k of one matched with slice k of the other,
        in order along the slice normal.
    train, validation : list of int
        Slices (indices into ``low``/``full``) for training and for validation.
    sources : tuple of str
        The two input paths, as given.
    """

    name: str
    low: F32
    full: F32
    train: list[int]
    validation: list[int]
    sources: tuple[str, str]

    def describe(self) -> dict[str, Any]:
        """Plain-data summary for checkpoints."""
        return {
            "name": self.name,
            "low_dose": self.sources[0],
            "full_dose": self.sources[1],
            "slices": int(self.low.shape[0]),
            "train_slices": len(self.train),
            "validation_slices": list(self.validation),
        }


def load_pair(
    low_path: str | os.PathLike[str],
    full_path: str | os.PathLike[str],
    *,
    hu_offset: float = 0.0,
    block: int = 8,
    val_fraction: float = 0.2,
    guard: int = 1,
) -> PairedSeries:
    """Read a low-dose and a full-dose series, pair their slices and split them.

    Parameters
    ----------
    low_path, full_path : path-like
        DICOM series (file, folder, zip), NIfTI volume or MetaImage.
    hu_offset : float
        Added to the physical values to get HU (``-1000`` for data stored as HU + 1000).
    block, val_fraction, guard : int, float, int
        Validation blocks (:func:`meddenoise.ldct.pairs.split_blocks`).

    Returns
    -------
    PairedSeries

    Raises
    ------
    InputError
        For unreadable inputs, a DICOM series that is not CT, or slices that do not pair.
    """
    from meddenoise.intensity import IntensityMapping, to_model
    from meddenoise.io import read_image

    low = read_image(low_path, modality="CT")
    full = read_image(full_path, modality="CT")
    for image, path in ((low, low_path), (full, full_path)):
        if image.modality.upper() != "CT":
            raise InputError(f"{path}: modality {image.modality}, expected CT")
    pairs = pair_slices(low, full)
    window = IntensityMapping("ct", CT_WINDOW[0] - hu_offset, CT_WINDOW[1] - hu_offset)
    height, width = low.shape[1:3]
    low_x = np.empty((len(pairs), height, width), dtype=np.float32)
    full_x = np.empty_like(low_x)
    for k, pair in enumerate(pairs):
        low_x[k] = to_model(low, window, start=pair.low, stop=pair.low + 1)[0][0, 0]
        full_x[k] = to_model(full, window, start=pair.full, stop=pair.full + 1)[0][0, 0]
    train, validation = split_blocks(
        len(pairs), block=block, val_fraction=val_fraction, guard=guard
    )
    name = f"{_label(low_path)}~{_label(full_path)}"
    return PairedSeries(name, low_x, full_x, train, validation, (str(low_path), str(full_path)))


def _label(path: str | os.PathLike[str]) -> str:
    p = Path(path)
    stem = p.name
    for suffix in (".nii.gz", ".nii", ".mhd", ".mha", ".zip"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return f"{p.parent.name}/{stem}" if p.parent.name else stem


class PairSampler(SeededSampler):
    """Draw batches of ``(full, low)`` patches, ``(B, 3, P, P)`` float32 in [0, 1].

    Each patch: a series with odds proportional to its training slices, a training slice,
    a random crop (the same window in both), a random flip and quarter turn (the same for
    both), grey repeated to three channels. One seeded generator; its state goes into
    checkpoints so that a resumed run draws what an uninterrupted one would have.

    Parameters
    ----------
    series : list of PairedSeries
        The pairs (at least one training slice in all).
    patch, batch : int
        Patch side and patches per batch.
    seed : int
        Seed of the generator.
    """

    def __init__(self, series: list[PairedSeries], *, patch: int, batch: int, seed: int) -> None:
        self.slots = [(s, k) for s in series for k in s.train]
        if not self.slots:
            raise InputError("no training slices: every paired slice went to validation")
        self.patch = patch
        self.batch = batch
        self.rng = np.random.default_rng(seed)

    def sample(self) -> tuple[F32, F32]:
        """Draw one batch: ``(clean, noisy)`` = (full dose, low dose)."""
        p = self.patch
        clean = np.empty((self.batch, 3, p, p), dtype=np.float32)
        noisy = np.empty_like(clean)
        rng = self.rng
        for b in range(self.batch):
            series, k = self.slots[int(rng.integers(len(self.slots)))]
            crop = random_view(np.stack([series.full[k], series.low[k]]), p, rng)
            clean[b] = crop[0][None]
            noisy[b] = crop[1][None]
        return clean, noisy
