"""Small synthetic DICOM instances and series written with pydicom, for reader tests."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

PYDICOM_FILES = Path(os.path.dirname(pydicom.__file__)) / "data" / "test_files"
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def pydicom_file(name: str) -> Path:
    """A file shipped in pydicom's wheel (never downloaded); skip where absent."""
    path = PYDICOM_FILES / name
    if not path.exists():
        pytest.skip(f"{name} is not in this pydicom installation")
    return path


def ct_dataset(
    pixels: np.ndarray,
    *,
    series_uid: str,
    position: Sequence[float] | None = (0.0, 0.0, 0.0),
    orientation: Sequence[float] | None = AXIAL,
    instance: int = 1,
    slope: float = 1.0,
    intercept: float = -1024.0,
    description: str = "SYNTH",
) -> Dataset:
    """A minimal CT Image Storage instance holding ``pixels`` (uint16 or int16)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Secret^Patient"
    ds.PatientID = "PID-12345"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "CT"
    ds.SeriesDescription = description
    ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = [float(v) for v in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 2.0
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12 if pixels.dtype == np.uint16 else 16
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(pixels.dtype == np.int16)
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.PixelData = np.ascontiguousarray(pixels).astype(pixels.dtype.newbyteorder("<")).tobytes()
    return ds


def write_series(
    folder: Path,
    offsets: Sequence[float],
    *,
    shape: tuple[int, int] = (8, 6),
    series_uid: str | None = None,
    names: Sequence[str] | None = None,
    seed: int = 0,
    **kwargs: object,
) -> tuple[str, np.ndarray]:
    """Write one axial slice per z offset; return the series UID and the pixels by offset.

    Slice ``k`` is at ``(0, 0, offsets[k])`` with InstanceNumber ``k + 1`` and is written
    to ``names[k]`` (default ``s{k}.dcm``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    uid = series_uid or generate_uid()
    rng = np.random.default_rng(seed)
    stack = rng.integers(0, 4096, size=(len(offsets), *shape), dtype=np.uint16)
    for k, z in enumerate(offsets):
        ds = ct_dataset(stack[k], series_uid=uid, position=(0.0, 0.0, z), instance=k + 1, **kwargs)
        name = names[k] if names is not None else f"s{k}.dcm"
        ds.save_as(folder / name, enforce_file_format=True)
    return uid, stack
