"""describe_frames: classic and enhanced (functional groups) per-frame attributes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from meddenoise.io.dicom.frames import describe_frames, is_enhanced, number_of_frames
from meddenoise.io.dicom.read import read_dicom
from tests.io.dicom.synthetic import ct_dataset


def _item(**values: object) -> Dataset:
    ds = Dataset()
    for key, value in values.items():
        setattr(ds, key, value)
    return ds


def _enhanced(z: list[float], slopes: list[float] | None) -> Dataset:
    """An Enhanced-CT-like instance: orientation and spacing shared, position per frame."""
    ds = Dataset()
    ds.NumberOfFrames = len(z)
    ds.InstanceNumber = 7
    shared = _item(
        PlaneOrientationSequence=Sequence([_item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])]),
        PixelMeasuresSequence=Sequence([_item(PixelSpacing=[0.8, 0.9], SliceThickness=1.5)]),
        PixelValueTransformationSequence=Sequence([_item(RescaleSlope=1, RescaleIntercept=-1024)]),
    )
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for k, zk in enumerate(z):
        item = _item(PlanePositionSequence=Sequence([_item(ImagePositionPatient=[0, 0, zk])]))
        if slopes is not None:
            item.PixelValueTransformationSequence = Sequence(
                [_item(RescaleSlope=slopes[k], RescaleIntercept=-k)]
            )
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    return ds


def test_shared_groups_apply_to_every_frame() -> None:
    ds = _enhanced([0.0, 1.0, 2.0], slopes=None)
    assert is_enhanced(ds)
    assert number_of_frames(ds) == 3
    info = describe_frames(ds, 4)
    assert [i.frame for i in info] == [0, 1, 2]
    assert {i.dataset for i in info} == {4}
    assert [i.position for i in info] == [(0, 0, 0), (0, 0, 1), (0, 0, 2)]
    assert {i.orientation for i in info} == {(1, 0, 0, 0, 1, 0)}
    assert {(i.pixel_spacing, i.thickness) for i in info} == {((0.8, 0.9), 1.5)}
    assert {(i.slope, i.intercept, i.instance_number) for i in info} == {(1.0, -1024.0, 7)}


def test_per_frame_groups_override_shared() -> None:
    info = describe_frames(_enhanced([0.0, 1.0], slopes=[2.0, 3.0]), 0)
    assert [(i.slope, i.intercept) for i in info] == [(2.0, 0.0), (3.0, -1.0)]


def test_classic_multi_frame_has_no_per_frame_position() -> None:
    ds = ct_dataset(np.zeros((2, 2), np.uint16), series_uid="1.2")
    ds.NumberOfFrames = 3
    info = describe_frames(ds, 0)
    assert len(info) == 3
    assert {i.position for i in info} == {None}
    assert {i.intercept for i in info} == {-1024.0}
    assert not is_enhanced(ds)


def test_enhanced_file_with_per_frame_rescale_read_in_position_order(tmp_path: Path) -> None:
    """Frames stored in shuffled positions are sorted; the frame map records where each went."""
    z = [4.0, 0.0, 2.0]
    slopes = [1.0, 2.0, 4.0]
    ds = ct_dataset(np.zeros((3, 3), np.uint16), series_uid="1.2.3")
    enhanced = _enhanced(z, slopes)
    ds.SharedFunctionalGroupsSequence = enhanced.SharedFunctionalGroupsSequence
    ds.PerFrameFunctionalGroupsSequence = enhanced.PerFrameFunctionalGroupsSequence
    ds.NumberOfFrames = 3
    stack = np.arange(27, dtype=np.uint16).reshape(3, 3, 3)
    ds.PixelData = stack.tobytes()
    del ds.ImagePositionPatient, ds.RescaleSlope, ds.RescaleIntercept
    ds.save_as(tmp_path / "enh.dcm", enforce_file_format=True)
    img = read_dicom(tmp_path / "enh.dcm")
    assert img.source.frames == [(0, 1), (0, 2), (0, 0)]
    np.testing.assert_array_equal(img.pixels, stack[[1, 2, 0]])
    assert img.slope.tolist() == [2.0, 4.0, 1.0]
    assert img.intercept.tolist() == [-1.0, -2.0, 0.0]
    assert img.geometry is not None
    assert img.geometry.positions[:, 2].tolist() == [0.0, 2.0, 4.0]
    assert img.geometry.pixel_spacing == (0.8, 0.9)
    assert img.geometry.slice_thickness == pytest.approx(1.5)
    assert pydicom.dcmread(tmp_path / "enh.dcm").NumberOfFrames == 3
