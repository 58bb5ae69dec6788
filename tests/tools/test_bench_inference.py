import sys
from pathlib import Path

import numpy as np
import pydicom
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import bench_inference

from meddenoise.models import build_model


def test_matmul_peak_and_slice_speed_are_positive():
    assert bench_inference.matmul_peak("fp32", torch.device("cpu"), size=64) > 0
    model = build_model("nen", depth=1).eval()
    ms, gflops = bench_inference.slice_speed(model, 32, "fp32", 1)
    assert ms > 0
    assert gflops > 0


def test_synthetic_ct_series_reads_back_as_a_volume(tmp_path):
    from meddenoise.io import read_image

    folder = bench_inference._write_ct_series(tmp_path / "s", slices=3, side=16)
    assert len(list(folder.iterdir())) == 3
    image = read_image(folder)
    assert image.shape == (3, 16, 16)
    assert image.modality == "CT"
    assert image.geometry is not None
    assert image.geometry.slice_spacing == 1.0
    ds = pydicom.dcmread(next(folder.iterdir()))
    assert np.all(ds.pixel_array <= 4095)
