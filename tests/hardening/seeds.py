"""Valid seed files of every format the readers take, for the fuzz tests to mutate.

Small on purpose (a few KiB each): a mutation then costs milliseconds to read. Built
deterministically from pydicom's test files, the example CT and arrays made here.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from functools import cache
from pathlib import Path

import numpy as np
import pydicom

from tests.hardening.corpus import PYDICOM_FILES, _ct, _dicom_bytes

#: pydicom test files covering the decoders: RLE, JPEG 2000, JPEG baseline, deflate,
#: big endian, implicit VR, colour, palette, multi-frame, enhanced.
DICOM_FILES = (
    "MR_small_RLE.dcm",
    "JPEG2000.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "image_dfl.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
    "SC_rgb_small_odd.dcm",
    "SC_ybr_full_422_uncompressed.dcm",
    "examples_palette.dcm",
    "SC_rgb_rle_2frame.dcm",
    "liver_1frame.dcm",
    "MR_small_jp2klossless.dcm",
)


def _volume(dtype: str, shape: tuple[int, ...] = (6, 5, 4)) -> np.ndarray:
    return (np.arange(int(np.prod(shape))) % 7).astype(dtype).reshape(shape)


@cache
def seeds() -> dict[str, tuple[str, bytes]]:
    """Seed name -> (file suffix, content)."""
    import nibabel as nib
    import SimpleITK as sitk  # noqa: N813 - the name SimpleITK documents
    import tifffile
    from PIL import Image

    out: dict[str, tuple[str, bytes]] = {"ct_crop": (".dcm", _dicom_bytes(_ct((12, 10))))}
    for name in DICOM_FILES:
        out[name] = (".dcm", (PYDICOM_FILES / name).read_bytes())
    for dtype in ("int16", "float32", "uint8"):
        raw = nib.Nifti1Image(_volume(dtype), np.diag([0.7, 0.7, 2.0, 1.0])).to_bytes()
        out[f"nifti_{dtype}"] = (".nii", raw)
        out[f"nifti_gz_{dtype}"] = (".nii.gz", gzip.compress(raw, mtime=0))
    out["nifti2_int16"] = (".nii", nib.Nifti2Image(_volume("int16"), np.eye(4)).to_bytes())
    for compressed in (False, True):
        image = sitk.GetImageFromArray(_volume("int16", (3, 4, 5)))
        image.SetSpacing((0.5, 0.6, 2.0))
        path = Path(_scratch()) / f"seed{int(compressed)}.mha"
        sitk.WriteImage(image, str(path), useCompression=compressed)
        out[f"mha_{'zlib' if compressed else 'raw'}"] = (".mha", path.read_bytes())
    grey = (np.arange(7 * 9) * 29 % 251).astype(np.uint8).reshape(7, 9)
    for mode in ("L", "RGB", "RGBA", "P", "LA", "1", "I;16"):
        if mode == "I;16":
            im = Image.fromarray(grey.astype(np.uint16) * 250)
        else:
            im = Image.fromarray(grey).convert(mode)
        buffer = io.BytesIO()
        im.save(buffer, format="PNG")
        out[f"png_{mode}"] = (".png", buffer.getvalue())
    for mode in ("L", "RGB", "CMYK"):
        buffer = io.BytesIO()
        Image.fromarray(np.kron(grey, np.ones((2, 2), np.uint8))).convert(mode).save(
            buffer, format="JPEG", quality=90
        )
        out[f"jpeg_{mode}"] = (".jpg", buffer.getvalue())
    tiffs = {
        "tiff_pages": (_volume("uint16", (3, 4, 5)), {"photometric": "minisblack"}),
        "tiff_rgb": (np.zeros((4, 5, 3), np.uint8), {"photometric": "rgb"}),
        "tiff_zlib": (_volume("float32", (2, 4, 5)), {"compression": "zlib"}),
        "tiff_planar": (
            _volume("uint8", (5, 4, 6)),
            {"photometric": "minisblack", "planarconfig": "separate"},
        ),
        "tiff_tiled": (
            _volume("uint8", (32, 32)),
            {"tile": (16, 16), "photometric": "minisblack"},
        ),
    }
    for name, (array, options) in tiffs.items():
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, array, **options)  # type: ignore[arg-type]
        out[name] = (".tif", buffer.getvalue())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("study/IM1.dcm", _dicom_bytes(_ct((8, 8))))
        archive.writestr("study/IM2.dcm", _dicom_bytes(_ct((8, 8), offset=100)))
    out["zip"] = (".zip", buffer.getvalue())
    return out


@cache
def _scratch() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="meddenoise-seeds-")


def seeds_of(suffixes: tuple[str, ...]) -> list[str]:
    """Names of the seeds whose suffix is one of ``suffixes``."""
    return sorted(name for name, (suffix, _) in seeds().items() if suffix in suffixes)


def dicom_header(name: str) -> pydicom.Dataset:
    """A seed DICOM file parsed (for the structured strategies)."""
    return pydicom.dcmread(io.BytesIO(seeds()[name][1]), force=True)
