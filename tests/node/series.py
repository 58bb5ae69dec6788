"""Test series for the node: copies of the Philips CT series, smaller and relabelled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

#: Identifying values written into the test series; they must never reach the logs.
PATIENT_NAME = "NODETEST^PHI^SENTINEL"
PATIENT_ID = "PID-SENTINEL-7731"


def source_slices(shared_data: Path) -> list[Path]:
    """The 28 slices of philips_std_5mm, in InstanceNumber order."""
    folder = shared_data / "ct" / "philips_std_5mm"
    headers = [(pydicom.dcmread(p, stop_before_pixels=True), p) for p in folder.iterdir()]
    return [p for ds, p in sorted(headers, key=lambda item: int(item[0].InstanceNumber))]


def write_series(
    sources: list[Path],
    out: Path,
    *,
    count: int,
    factor: int = 4,
    series_uid: str | None = None,
) -> list[Path]:
    """Write ``count`` slices 5 mm apart, downsampled by ``factor``, as one new series.

    Slices past the end of ``sources`` reuse their pixels at new positions, so every
    instance has its own SOPInstanceUID, InstanceNumber and position.
    """
    out.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    first = pydicom.dcmread(sources[0], stop_before_pixels=True)
    z0 = float(first.ImagePositionPatient[2])
    paths = []
    for k in range(count):
        ds = pydicom.dcmread(sources[k % len(sources)])
        arr = ds.pixel_array
        h, w = (s // factor for s in arr.shape)
        small = arr[: h * factor, : w * factor].reshape(h, factor, w, factor).mean(axis=(1, 3))
        ds.PixelData = np.rint(small).astype(arr.dtype).tobytes()
        ds.Rows, ds.Columns = h, w
        ds.PixelSpacing = [float(v) * factor for v in ds.PixelSpacing]
        for keyword in ("LargestImagePixelValue", "SmallestImagePixelValue"):
            if keyword in ds:
                delattr(ds, keyword)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = k + 1
        x, y, _ = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z0 + 5.0 * k]
        ds.SliceLocation = z0 + 5.0 * k
        ds.PatientName = PATIENT_NAME
        ds.PatientID = PATIENT_ID
        path = out / f"slice{k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
