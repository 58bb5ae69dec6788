"""Tiny synthetic training data: a split file over small images written in tmp."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def tiny_split(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    xx = np.mgrid[:40, :48][1]
    vol = (np.sin(xx / 5.0)[..., None] * 300 + 100 + np.arange(4) * 10).astype(np.int16)
    nib.save(nib.Nifti1Image(vol.transpose(1, 0, 2), np.eye(4)), data / "ct.nii.gz")
    val = vol[..., :3].transpose(1, 0, 2) + 7
    nib.save(nib.Nifti1Image(val, np.eye(4)), data / "ct_val.nii.gz")
    for name in ("a", "b", "c"):
        rgb = rng.integers(0, 256, size=(36, 44, 3)).astype(np.uint8)
        Image.fromarray(rgb).save(data / f"{name}.png")
    lines = ["version = 1", f'root = "{data}"']
    for path, modality, family, split in [
        ("ct.nii.gz", "CT", "ct", "train"),
        ("ct_val.nii.gz", "CT", "ct", "validation"),
        ("a.png", "XC", "dermoscopy", "train"),
        ("b.png", "XC", "dermoscopy", "train"),
        ("c.png", "XC", "dermoscopy", "validation"),
    ]:
        lines += [
            "[[item]]",
            f'path = "{path}"',
            f'modality = "{modality}"',
            f'family = "{family}"',
            f'split = "{split}"',
            f'group = "{path}"',
        ]
    split = tmp_path / "split.toml"
    split.write_text("\n".join(lines) + "\n")
    return split


@pytest.fixture
def tiny_config(tiny_split: Path):
    from meddenoise.train.config import TrainConfig

    return TrainConfig(
        split=str(tiny_split),
        arch="two_stage",
        model={"depth": 1},
        families=("ct", "dermoscopy"),
        steps=4,
        patch=16,
        batch=2,
        checkpoint_every=2,
        validate_every=2,
        val_crops=1,
        val_crop=24,
        val_sigmas=(25.0,),
        max_slices=4,
    )
