from __future__ import annotations

import os
import shutil
from pathlib import Path

import pydicom
import pytest

from meddenoise.batch.discover import BatchItem, find_items, output_name, shard_items
from meddenoise.errors import InputError

from .conftest import EXAMPLES


def test_finds_volumes_images_and_series(inputs: Path) -> None:
    items = find_items(inputs)
    assert [(i.source, i.format) for i in items] == [
        ("misc/cell.png", "png"),
        ("mri/S0_10slices.nii.gz", "nifti"),
        ("mri/aniso_vox.nii.gz", "nifti"),
        ("study1/ct", "dicom"),
    ]
    series = items[-1]
    assert series.series_uid is not None
    assert series.label == "study1/ct"
    assert series.key.startswith("study1/ct#")


def test_pattern_matches_at_any_depth_including_the_top(inputs: Path) -> None:
    shutil.copy(inputs / "mri" / "aniso_vox.nii.gz", inputs / "top.nii.gz")
    found = [i.source for i in find_items(inputs, pattern="**/*.nii.gz")]
    assert found == ["mri/S0_10slices.nii.gz", "mri/aniso_vox.nii.gz", "top.nii.gz"]
    assert [i.source for i in find_items(inputs, pattern="misc/*")] == ["misc/cell.png"]
    assert find_items(inputs, pattern="**/*.mha") == []


def test_several_series_in_one_folder_are_separate_items(tmp_path: Path) -> None:
    folder = tmp_path / "in" / "mixed"
    folder.mkdir(parents=True)
    for number, member in enumerate(sorted((EXAMPLES / "ct_phantom").iterdir())):
        ds = pydicom.dcmread(member)
        if number == 0:
            ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.1"
        ds.save_as(folder / f"{member.name}.dcm")
    items = find_items(tmp_path / "in")
    assert len(items) == 2
    assert {i.series_uid for i in items} >= {"1.2.826.0.1.3680043.8.498.1"}
    assert all(i.label.startswith("mixed/series-") for i in items)
    assert len({i.key for i in items}) == 2


def test_series_folder_with_subfolders_gets_its_own_output_name(tmp_path: Path) -> None:
    root = tmp_path / "in"
    shutil.copytree(EXAMPLES / "ct_phantom", root / "ct")
    shutil.copy(EXAMPLES / "cell.png", root / "ct" / "extra.png")
    (root / "ct" / "sub").mkdir()
    shutil.copy(EXAMPLES / "cell.png", root / "ct" / "sub" / "cell.png")
    labels = {i.source: i.label for i in find_items(root)}
    assert labels["ct"].startswith("ct/series-")
    assert labels["ct/sub/cell.png"] == "ct/sub/cell.png"


def test_skips_manifests_partials_hidden_folders_and_the_output(inputs: Path) -> None:
    (inputs / "manifest.jsonl").write_text("{}\n")
    partial = inputs / ".cell.png.abc.partial"
    partial.mkdir()
    shutil.copy(inputs / "misc" / "cell.png", partial / "cell.png")
    out = inputs / "out"
    out.mkdir()
    shutil.copy(inputs / "misc" / "cell.png", out / "x.png")
    found = [i.source for i in find_items(inputs, exclude=out)]
    assert "out/x.png" not in found
    assert not any("partial" in f or "manifest" in f for f in found)


def test_symlink_loop_and_dangling_link_do_not_trap_the_search(inputs: Path) -> None:
    os.symlink(inputs, inputs / "mri" / "loop")
    os.symlink(inputs / "missing.nii.gz", inputs / "dangling.nii.gz")
    found = [i.source for i in find_items(inputs)]
    assert len(found) == 4


def test_a_folder_of_non_image_dicom_is_an_item_that_will_fail(tmp_path: Path) -> None:
    folder = tmp_path / "in" / "sr"
    folder.mkdir(parents=True)
    ds = pydicom.dcmread(EXAMPLES / "ct_phantom" / "I130", stop_before_pixels=True)
    for keyword in ("Rows", "Columns"):
        delattr(ds, keyword)
    ds.save_as(folder / "sr.dcm")
    (item,) = find_items(tmp_path / "in")
    assert item.format == "dicom"
    assert item.series_uid is None


def test_missing_root_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        find_items(tmp_path / "nope")


@pytest.mark.parametrize(
    ("item", "fmt", "expected"),
    [
        (BatchItem("a/b.nii.gz", "nifti", label="a/b.nii.gz"), None, "a/b.nii.gz"),
        (BatchItem("a/b.nii.gz", "nifti", label="a/b.nii.gz"), "tiff", "a/b.tif"),
        (BatchItem("a/B.PNG", "png", label="a/B.PNG"), "nifti", "a/B.nii.gz"),
        (BatchItem("a/ct", "dicom", "1.2", label="a/ct"), None, "a/ct"),
        (BatchItem("a/ct", "dicom", "1.2", label="a/ct"), "metaimage", "a/ct.mha"),
    ],
)
def test_output_names(item: BatchItem, fmt: str | None, expected: str) -> None:
    assert output_name(item, fmt) == expected


def test_unknown_output_format_is_refused() -> None:
    with pytest.raises(InputError, match="unknown output format"):
        output_name(BatchItem("a.png", "png", label="a.png"), "gif")


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_partition_the_items_evenly(count: int) -> None:
    items = [BatchItem(f"p{i:03d}.nii", "nifti", label=f"p{i:03d}.nii") for i in range(20)]
    shards = [shard_items(items, k, count) for k in range(count)]
    assert sorted(i for shard in shards for i in shard) == sorted(items)
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1
    assert shards == [shard_items(list(reversed(items)), k, count) for k in range(count)]
