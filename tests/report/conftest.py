"""Fixtures of the report tests: a tiny model, inputs with sentinel PHI, stand-in outputs.

Most tests need a denoised output, not a good one: :func:`write_smoothed` stands in for
the model (a Gaussian filter of every slice, written in the input's format), which is
fast and gives realistic before/after/difference panels. The CLI tests use the tiny model.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "data"
CT_PHANTOM = EXAMPLES / "ct_phantom"

#: Identifying values written into the PHI copies; none may reach a report without PHI.
SENTINELS = {
    "PatientName": "Doe^Jane",
    "PatientID": "PID-SENTINEL-123",
    "PatientBirthDate": "19010203",
    "AccessionNumber": "ACC-SENTINEL-9",
    "InstitutionName": "Sentinel Hospital",
    "ReferringPhysicianName": "Referrer^Sentinel",
    "SeriesDescription": "SD-SENTINEL Jane Doe brain",
}

#: Substrings searched for in reports (case-insensitive).
SENTINEL_TEXTS = ("Doe", "Jane", "SENTINEL", "19010203")


def text_of(page: str) -> str:
    """The page without its embedded images (base64 can spell anything)."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:", page)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-block NEN: fast, and a real weights file like any checkpoint."""
    from meddenoise.checkpoint import save_checkpoint
    from meddenoise.models import build_model

    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, build_model("nen", depth=1))
    return path


def write_phi_ct(folder: Path, *, crop: int | None = None) -> Path:
    """Copy the CT phantom with sentinel patient data, optionally a centre crop of it."""
    import pydicom

    folder.mkdir(parents=True)
    for member in sorted(CT_PHANTOM.iterdir()):
        ds = pydicom.dcmread(member)
        for keyword, value in SENTINELS.items():
            setattr(ds, keyword, value)
        if crop is not None:
            pixels = ds.pixel_array
            top = (pixels.shape[0] - crop) // 2 - 40
            left = (pixels.shape[1] - crop) // 2 - 20
            cropped = pixels[top : top + crop, left : left + crop]
            ds.PixelData = np.ascontiguousarray(cropped).tobytes()
            ds.Rows = ds.Columns = crop
        ds.save_as(folder / member.name)
    return folder


def write_smoothed(source: Path, target: Path, *, sigma: float = 1.5) -> Path:
    """Write ``source`` smoothed slice by slice: a stand-in for a denoised output."""
    from scipy import ndimage

    from meddenoise.io import read_image, write_image

    image = read_image(source)
    sigmas = (sigma, sigma, 0) if image.is_color else (sigma, sigma)
    smooth = np.stack([ndimage.gaussian_filter(s.astype(np.float64), sigmas) for s in image.pixels])
    if np.issubdtype(image.pixels.dtype, np.integer):
        smooth = np.rint(smooth)
    lo, hi = image.value_range
    out = image.with_pixels(np.clip(smooth, lo, hi).astype(image.pixels.dtype))
    fmt = image.format if image.format != "jpeg" else "png"
    return write_image(out, target, format=fmt)


def write_noisy(source: Path, target: Path, *, sigma: float = 20.0, seed: int = 0) -> Path:
    """Write ``source`` with white Gaussian noise of ``sigma`` stored units added."""
    from meddenoise.io import read_image, write_image

    image = read_image(source)
    rng = np.random.default_rng(seed)
    noisy = image.pixels + rng.normal(0.0, sigma, image.pixels.shape)
    lo, hi = image.value_range
    out = image.with_pixels(np.clip(np.rint(noisy), lo, hi).astype(image.pixels.dtype))
    return write_image(out, target, format=image.format)


def write_rgb_png(path: Path, *, size: tuple[int, int] = (120, 160), seed: int = 0) -> Path:
    """A noisy colour test card: a hue ramp and a disc."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0 : size[0], 0 : size[1]]
    rgb = np.stack(
        [cols / size[1], rows / size[0], ((rows - 60) ** 2 + (cols - 80) ** 2 < 900) * 0.8], -1
    )
    noisy = np.clip(rgb * 200 + 30 + rng.normal(0, 12, rgb.shape), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(path)
    return path


@pytest.fixture(scope="session")
def ct_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The CT phantom with 20 HU of added noise, and a smoothed series of that."""
    root = tmp_path_factory.mktemp("ct")
    noisy = write_noisy(CT_PHANTOM, root / "ct_noisy")
    return noisy, write_smoothed(noisy, root / "ct_smooth")


@pytest.fixture
def phi_ct(tmp_path: Path) -> Path:
    """A 3-slice 128x128 crop of the CT phantom carrying sentinel patient data."""
    return write_phi_ct(tmp_path / "phi" / "series", crop=128)


@pytest.fixture
def copy_examples(tmp_path: Path) -> Path:
    """A folder with a copy of the example cell image and a small colour PNG."""
    root = tmp_path / "examples"
    root.mkdir()
    shutil.copy(EXAMPLES / "cell.png", root / "cell.png")
    write_rgb_png(root / "card.png")
    return root
