from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from meddenoise.api import denoise_folder
from meddenoise.batch import BatchOptions, run_batch
from meddenoise.batch.manifest import path_digest
from meddenoise.errors import InputError

from .conftest import snapshot


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_mirrors_the_folders_and_records_every_item(
    inputs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    before = snapshot(inputs)
    seen: list[tuple[int, int, str]] = []
    summary = run_batch(
        inputs,
        tmp_path / "out",
        model=tiny_model,
        on_item=lambda i, n, item, outcome: seen.append((i, n, outcome.status)),
    )
    assert (summary.found, summary.total, summary.done, summary.failed) == (4, 4, 4, 0)
    assert seen == [(1, 4, "done"), (2, 4, "done"), (3, 4, "done"), (4, 4, "done")]
    out = tmp_path / "out"
    assert sorted(snapshot(out)) == [
        "misc/cell.png",
        "mri/S0_10slices.nii.gz",
        "mri/aniso_vox.nii.gz",
        "study1/ct/IM00001.dcm",
        "study1/ct/IM00002.dcm",
        "study1/ct/IM00003.dcm",
    ]
    done = [r for r in _records(summary.manifest) if r["status"] == "done"]
    assert len(done) == 4
    for record in done:
        assert record["output_sha256"] == path_digest(out / str(record["output"]))
        assert record["input_sha256"]
        assert record["seconds"] is not None
        assert record["worker"]
    assert snapshot(inputs) == before  # the input is never changed
    source = pydicom.dcmread(inputs / "study1" / "ct" / "I130", stop_before_pixels=True)
    derived = pydicom.dcmread(out / "study1" / "ct" / "IM00001.dcm", stop_before_pixels=True)
    assert derived.StudyInstanceUID == source.StudyInstanceUID
    assert derived.SeriesInstanceUID != source.SeriesInstanceUID
    assert "DERIVED" in derived.ImageType


def test_a_second_run_does_nothing_and_a_deleted_output_is_redone(
    inputs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    out = tmp_path / "out"
    run_batch(inputs, out, model=tiny_model)
    first = snapshot(out)
    again = run_batch(inputs, out, model=tiny_model)
    assert (again.done, again.already_done) == (0, 4)
    (out / "mri" / "aniso_vox.nii.gz").unlink()
    third = run_batch(inputs, out, model=tiny_model)
    assert (third.done, third.already_done) == (1, 3)
    assert snapshot(out) == first


def test_same_input_gives_same_bytes_and_uids(
    inputs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    run_batch(inputs, tmp_path / "a", model=tiny_model)
    run_batch(inputs, tmp_path / "b", model=tiny_model)
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")


def test_shards_together_equal_one_run(inputs: Path, tmp_path: Path, tiny_model: Path) -> None:
    run_batch(inputs, tmp_path / "whole", model=tiny_model)
    totals = []
    for k in range(3):
        summary = run_batch(
            inputs, tmp_path / "sharded", model=tiny_model, options=BatchOptions(shard=(k, 3))
        )
        totals.append(summary.total)
        assert summary.manifest.name == f"manifest-{k}-of-3.jsonl"
    assert sorted(totals) == [1, 1, 2]
    assert snapshot(tmp_path / "sharded") == snapshot(tmp_path / "whole")


def test_converts_formats_on_the_way(inputs: Path, tmp_path: Path, tiny_model: Path) -> None:
    options = BatchOptions(output_format="nifti", pattern="study1/**")
    summary = run_batch(inputs, tmp_path / "out", model=tiny_model, options=options)
    assert summary.done == 1
    volume = nib.load(tmp_path / "out" / "study1" / "ct.nii.gz")
    assert volume.shape == (512, 512, 3)
    assert np.asarray(volume.dataobj).dtype == np.int16 or volume.get_data_dtype().kind in "iuf"


def test_item_failures_are_recorded_and_the_run_goes_on(
    inputs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    (inputs / "mri" / "broken.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    summary = run_batch(inputs, tmp_path / "out", model=tiny_model)
    assert (summary.done, summary.failed) == (4, 1)
    ((key, error),) = summary.failures
    assert key == "mri/broken.nii.gz"
    assert "\n" not in error
    assert not (tmp_path / "out" / "mri" / "broken.nii.gz").exists()
    failed = [r for r in _records(summary.manifest) if r["status"] == "failed"]
    assert [r["input"] for r in failed] == ["mri/broken.nii.gz"]
    assert not list((tmp_path / "out").rglob("*.partial"))


def test_fail_fast_stops_at_the_first_failure(
    inputs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    (inputs / "a_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    summary = run_batch(
        inputs, tmp_path / "out", model=tiny_model, options=BatchOptions(fail_fast=True)
    )
    assert (summary.done, summary.failed, summary.not_run) == (0, 1, 4)


def test_existing_outputs_fail_unless_skipped_or_overwritten(
    inputs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    out = tmp_path / "out"
    (out / "misc").mkdir(parents=True)
    (out / "misc" / "cell.png").write_bytes(b"someone else's file")
    summary = run_batch(inputs, out, model=tiny_model, options=BatchOptions(pattern="misc/*"))
    assert summary.failed == 1
    assert "already exists" in summary.failures[0][1]
    assert (out / "misc" / "cell.png").read_bytes() == b"someone else's file"
    skipped = run_batch(
        inputs, out, model=tiny_model, options=BatchOptions(pattern="misc/*", skip_existing=True)
    )
    assert (skipped.skipped, skipped.done) == (1, 0)
    replaced = run_batch(
        inputs, out, model=tiny_model, options=BatchOptions(pattern="misc/*", overwrite=True)
    )
    assert replaced.done == 1
    assert (out / "misc" / "cell.png").read_bytes() != b"someone else's file"


def test_output_written_but_not_recorded_is_recovered_without_recomputing(
    inputs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    out = tmp_path / "out"
    options = BatchOptions(pattern="mri/aniso*")
    run_batch(inputs, out, model=tiny_model, options=options)
    manifest = out / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    manifest.write_text(lines[0] + "\n")  # as if killed between the rename and "done"
    time.sleep(0.01)
    os.utime(out / "mri" / "aniso_vox.nii.gz")
    summary = run_batch(inputs, out, model=tiny_model, options=options)
    assert (summary.recovered, summary.done) == (1, 0)
    assert _records(manifest)[-1]["status"] == "done"


def test_partial_leftovers_of_a_killed_run_are_removed(
    inputs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    out = tmp_path / "out"
    leftover = out / "mri" / ".aniso_vox.nii.gz.k2j3.partial"
    leftover.mkdir(parents=True)
    (leftover / "aniso_vox.nii.gz").write_bytes(b"half")
    other = out / "mri" / ".unrelated.txt.k2j3.partial"
    other.mkdir()
    run_batch(inputs, out, model=tiny_model, options=BatchOptions(pattern="mri/*"))
    assert not leftover.exists()
    assert other.exists()  # not ours: another shard's or another tool's


@pytest.mark.parametrize(
    ("make_out", "message"),
    [
        (lambda src: src, "may not be the input"),
        (lambda src: src.parent, "may not hold the input"),
    ],
)
def test_bad_folders_are_refused(inputs: Path, tiny_model: Path, make_out, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=message):
        run_batch(inputs, make_out(inputs), model=tiny_model)


def test_output_inside_the_input_is_left_out_of_the_search(inputs: Path, tiny_model: Path) -> None:
    summary = run_batch(inputs, inputs / "denoised", model=tiny_model)
    assert summary.total == 4
    assert run_batch(inputs, inputs / "denoised", model=tiny_model).already_done == 4


def test_empty_input_and_unknown_engine_are_input_errors(tmp_path: Path, tiny_model: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no volume, image or DICOM series"):
        run_batch(tmp_path / "empty", tmp_path / "out", model=tiny_model)
    with pytest.raises(InputError, match="unknown engine"):
        run_batch(tmp_path / "empty", tmp_path / "out", model=tiny_model, engine="spark")


def test_denoise_folder_is_the_python_face(inputs: Path, tmp_path: Path, tiny_model: Path) -> None:
    from meddenoise.api import load_model

    loaded = load_model(tiny_model, device="cpu")
    summary = denoise_folder(inputs, tmp_path / "out", model=loaded, pattern="**/*.nii.gz")
    assert summary.done == 2


def test_manifest_of_a_shard_can_be_elsewhere(
    inputs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    where = tmp_path / "logs" / "m.jsonl"
    where.parent.mkdir()
    options = BatchOptions(pattern="misc/*", manifest=where)
    run_batch(inputs, tmp_path / "out", model=tiny_model, options=options)
    assert where.is_file()
    assert not (tmp_path / "out" / "manifest.jsonl").exists()
    shutil.rmtree(tmp_path / "out")


def test_dicom_output_from_nifti_fails_before_the_model_runs(
    inputs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    options = BatchOptions(output_format="dicom", pattern="mri/*")
    summary = run_batch(inputs, tmp_path / "out", model=tiny_model, options=options)
    assert summary.failed == 2
    assert all("DICOM output needs an image read from DICOM" in e for _, e in summary.failures)
    assert not list((tmp_path / "out").rglob("*.dcm"))
