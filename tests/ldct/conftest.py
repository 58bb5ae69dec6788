"""Small synthetic CT pairs (NIfTI, HU) and a tiny two-stage checkpoint."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from meddenoise.checkpoint import save_checkpoint
from meddenoise.models import build_model


def phantom(n: int = 12, size: int = 48) -> np.ndarray:
    """A water cylinder (0 HU) with a bone rod (+700 HU) in air, ``(size, size, n)``."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(yy, xx)
    slice_ = np.where(r < size * 0.4, 0.0, -1000.0)
    slice_[np.hypot(yy - 5, xx + 6) < 4] = 700.0
    return np.repeat(slice_[:, :, None], n, axis=2)


def save_ct(path, hu, *, spacing=(0.7, 0.7, 2.0), z0=0.0):
    affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    affine[2, 3] = z0
    nib.save(nib.Nifti1Image(np.rint(hu).astype(np.int16), affine), path)
    return path


@pytest.fixture
def ct_pair(tmp_path):
    """``(low, full)`` NIfTI volumes of 12 slices: full = phantom + mild noise, low = more."""
    rng = np.random.default_rng(0)
    clean = phantom()
    full = save_ct(tmp_path / "full.nii.gz", clean + rng.normal(0, 10, clean.shape))
    low = save_ct(tmp_path / "low.nii.gz", clean + rng.normal(0, 60, clean.shape))
    return low, full


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    return save_checkpoint(
        path,
        build_model("two_stage", depth=1),
        normalization={"contract": "meddenoise.intensity", "mappings": {"ct": "ct"}},
        training={"steps": 1},
    )
