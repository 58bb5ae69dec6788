"""plan_stack: geometric sorting, tie-breaks, tilt, duplicates, gaps, missing positions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from meddenoise.errors import InputError
from meddenoise.io.dicom.slices import SliceInfo, plan_stack

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _slices(positions: list[tuple[float, float, float]], **kwargs: object) -> list[SliceInfo]:
    return [
        SliceInfo(k, 0, k + 1, p, kwargs.get("orientation", AXIAL), (0.5, 0.7), 1.0)
        for k, p in enumerate(positions)
    ]


def test_sorts_along_the_normal_not_by_instance_number() -> None:
    plan = plan_stack(_slices([(0, 0, 4), (0, 0, -2), (0, 0, 1)]))
    assert plan.order == [1, 2, 0]
    assert plan.geometry is not None
    assert plan.geometry.positions[:, 2].tolist() == [-2, 1, 4]
    assert plan.geometry.pixel_spacing == (0.5, 0.7)
    assert plan.geometry.slice_spacing == pytest.approx(3.0)
    assert plan.warnings == []


def test_sagittal_normal() -> None:
    sagittal = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # normal = (-1, 0, 0)
    plan = plan_stack(_slices([(1, 0, 0), (3, 0, 0), (2, 0, 0)], orientation=sagittal))
    assert plan.order == [1, 2, 0]  # ascending along -x
    assert plan.geometry is not None
    np.testing.assert_allclose(plan.geometry.normal, [-1, 0, 0])


def test_gantry_tilt_sorts_sheared_positions() -> None:
    t = math.radians(20)
    tilted = (1.0, 0.0, 0.0, 0.0, math.cos(t), math.sin(t))
    plan = plan_stack(_slices([(0, 0, 10), (0, 0, 0), (0, 0, 5)], orientation=tilted))
    assert plan.order == [1, 2, 0]
    assert plan.geometry is not None
    assert plan.geometry.slice_spacing == pytest.approx(5 * math.cos(t))
    assert plan.warnings == [
        "slices are sheared (gantry tilt about 20.00 deg): Geometry.positions are exact, "
        "the slice step is not along the normal"
    ]


def test_duplicate_position_is_an_error_naming_both() -> None:
    with pytest.raises(InputError, match=r"e\.g\. b and c at 1\.000 mm"):
        plan_stack(_slices([(0, 0, 0), (0, 0, 1), (0, 0, 1)]), labels=["a", "b", "c"])


def test_gap_warning() -> None:
    plan = plan_stack(_slices([(0, 0, z) for z in (0, 1, 2, 3, 5, 6)]))
    assert plan.warnings == [
        "uneven slice spacing: 1 of 5 steps differ from the median 1 mm by more than 10% "
        "(largest: 2 mm between slices 3 and 4)"
    ]


def test_small_jitter_is_no_gap() -> None:
    plan = plan_stack(_slices([(0, 0, z) for z in (0, 1.05, 2, 3.02, 4)]))
    assert plan.warnings == []


def test_missing_positions_keep_instance_number_order() -> None:
    slices = [
        SliceInfo(0, 0, 3),
        SliceInfo(1, 0, 1),
        SliceInfo(2, 0, None),
        SliceInfo(3, 0, 2),
    ]
    plan = plan_stack(slices)
    assert plan.order == [1, 3, 0, 2]  # missing InstanceNumber last
    assert plan.geometry is None
    assert "4 of 4 slices lack ImagePositionPatient" in plan.warnings[0]


def test_single_slice_without_position_is_quiet() -> None:
    plan = plan_stack([SliceInfo(0, 0, 1)])
    assert (plan.order, plan.geometry, plan.warnings) == ([0], None, [])


def test_frames_of_one_instance_keep_monotonic_order() -> None:
    frames = [SliceInfo(0, f, 1, (0.0, 0.0, 10.0 - 2 * f), AXIAL, (1.0, 1.0)) for f in range(4)]
    assert plan_stack(frames, keep_monotonic=True).order == [0, 1, 2, 3]
    assert plan_stack(frames).order == [3, 2, 1, 0]
    shuffled = [
        SliceInfo(0, f, 1, (0.0, 0.0, z), AXIAL, (1.0, 1.0)) for f, z in enumerate([2, 0, 4])
    ]
    assert plan_stack(shuffled, keep_monotonic=True).order == [1, 0, 2]


def test_tie_break_by_instance_number() -> None:
    """Equal offsets are ordered by InstanceNumber, so the error names them in that order."""
    slices = [
        SliceInfo(0, 0, 2, (0.0, 0.0, 0.0), AXIAL, (1.0, 1.0)),
        SliceInfo(1, 0, 1, (0.0, 0.0, 0.0), AXIAL, (1.0, 1.0)),
    ]
    with pytest.raises(InputError, match=r"e\.g\. one and two at"):
        plan_stack(slices, labels=["two", "one"])


def test_mixed_orientations_form_a_2d_stack() -> None:
    coronal = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
    slices = [
        SliceInfo(0, 0, 2, (0.0, 0.0, 0.0), AXIAL, (1.0, 1.0)),
        SliceInfo(1, 0, 1, (0.0, 0.0, 0.0), coronal, (1.0, 1.0)),
    ]
    plan = plan_stack(slices)
    assert plan.order == [1, 0]
    assert plan.geometry is None
    assert "2 different orientations" in plan.warnings[0]


def test_missing_pixel_spacing_gives_no_geometry() -> None:
    slices = [SliceInfo(k, 0, k, (0.0, 0.0, float(k)), AXIAL, None) for k in range(2)]
    plan = plan_stack(slices)
    assert plan.order == [0, 1]
    assert plan.geometry is None
    assert plan.warnings == ["no usable PixelSpacing: no geometry"]
