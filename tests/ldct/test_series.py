from pathlib import Path

import numpy as np
import pydicom
import pytest
from click.testing import CliRunner
from pydicom.data import get_testdata_file

from meddenoise.cli import main
from meddenoise.errors import InputError
from meddenoise.image import MedicalImage
from meddenoise.io import read_image
from meddenoise.ldct.series import simulate_series
from meddenoise.ldct.workflows import find_pairs, simulate_file

from .conftest import phantom, save_ct


def test_a_simulated_dicom_series_is_a_derived_series_with_more_noise(tmp_path):
    source = Path(get_testdata_file("CT_small.dcm"))
    before = source.read_bytes()
    result = simulate_file(source, tmp_path / "low", dose=0.25, kernel="sharp", seed=3)
    assert source.read_bytes() == before
    (written,) = sorted((tmp_path / "low").iterdir())
    src, out = pydicom.dcmread(source), pydicom.dcmread(written)
    assert out.StudyInstanceUID == src.StudyInstanceUID
    assert out.SeriesInstanceUID != src.SeriesInstanceUID
    assert out.ImageType[0] == "DERIVED"
    assert out.DerivationCodeSequence[0].CodeValue == "113042"
    assert "dose=0.25" in out.DerivationDescription
    assert out.SeriesDescription.endswith("sim 0.25 dose")
    assert out.pixel_array.dtype == src.pixel_array.dtype
    diff = out.pixel_array.astype(float) - src.pixel_array
    assert 5 < diff.std() < 500
    assert abs(diff.mean()) < 5
    assert result.slices == 1
    again = simulate_file(source, tmp_path / "again", dose=0.25, kernel="sharp", seed=3)
    (second,) = sorted(again.output.iterdir())
    np.testing.assert_array_equal(pydicom.dcmread(second).pixel_array, out.pixel_array)


def test_nifti_in_nifti_out_keeps_geometry_and_dtype(tmp_path):
    path = save_ct(tmp_path / "ct.nii.gz", phantom(2, 40), spacing=(0.8, 0.8, 2.0))
    out = simulate_file(path, tmp_path / "low.nii.gz", dose=0.5, kernel="soft").output
    a, b = read_image(path), read_image(out)
    assert b.pixels.dtype == a.pixels.dtype
    np.testing.assert_allclose(b.geometry.positions, a.geometry.positions)
    assert (b.pixels != a.pixels).any()


def test_series_that_cannot_be_simulated_are_refused():
    mr = MedicalImage.from_array(np.zeros((1, 16, 16), np.int16), modality="MR")
    with pytest.raises(InputError, match="needs CT"):
        simulate_series(mr, dose=0.5, kernel="soft", pixel_mm=1.0)
    ct = MedicalImage.from_array(np.zeros((1, 16, 16), np.int16), modality="CT")
    with pytest.raises(InputError, match="pixel spacing"):
        simulate_series(ct, dose=0.5, kernel="soft")


def test_cli_simulate_ldct_and_its_errors(tmp_path):
    path = save_ct(tmp_path / "ct.nii.gz", phantom(1, 32))
    out = tmp_path / "low.nii.gz"
    args = ["simulate-ldct", str(path), "-o", str(out), "--kernel", "soft", "-q"]
    result = CliRunner().invoke(main, [*args, "--dose", "0.25"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out}: 1 slice at 0.25 dose")
    again = CliRunner().invoke(main, [*args, "--dose", "0.25"])
    assert again.exit_code == 2
    assert "exists" in again.output
    for bad in (["--dose", "1.5"], ["--dose", "0"]):
        r = CliRunner().invoke(main, [*args[:-3], "--kernel", "soft", "--overwrite", *bad])
        assert r.exit_code == 2, r.output
    mr = tmp_path / "mr.png"
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(mr)
    r = CliRunner().invoke(
        main,
        [
            "simulate-ldct",
            str(mr),
            "-o",
            str(tmp_path / "x.png"),
            "--dose",
            "0.5",
            "--kernel",
            "soft",
        ],
    )
    assert r.exit_code == 2
    assert len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_pairs_are_found_one_per_patient_folder(tmp_path):
    for patient in ("L067", "L096", "L109"):
        (tmp_path / patient / "full_1mm").mkdir(parents=True)
        if patient != "L109":
            (tmp_path / patient / "quarter_1mm").mkdir()
    pairs = find_pairs(tmp_path, low_name="quarter_1mm", full_name="full_1mm")
    assert [low.parent.name for low, _ in pairs] == ["L067", "L096"]
    with pytest.raises(InputError, match="no patient folder"):
        find_pairs(tmp_path, low_name="quarter_3mm", full_name="full_3mm")


def test_cli_finetune_writes_a_model_and_refuses_bad_pairs(ct_pair, tiny_model, tmp_path):
    low, full = ct_pair
    out = tmp_path / "ft.pt"
    common = ["--kernel", "soft", "--from", str(tiny_model), "--out", str(out)]
    small = [
        "--steps",
        "2",
        "--batch",
        "2",
        "--patch",
        "16",
        "--validate-every",
        "1",
        "--block",
        "4",
        "-q",
    ]
    result = CliRunner().invoke(
        main, ["finetune", "--low-dose", str(low), "--full-dose", str(full), *common, *small]
    )
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert (tmp_path / "ft-run" / "last.pt").is_file()
    assert "validation PSNR: low dose" in result.output
    other = save_ct(tmp_path / "other.nii.gz", phantom(12), z0=500.0)
    bad = CliRunner().invoke(
        main,
        [
            "finetune",
            "--low-dose",
            str(low),
            "--full-dose",
            str(other),
            *common[:-2],
            "--out",
            str(tmp_path / "b.pt"),
        ],
    )
    assert bad.exit_code == 2
    assert "no slice position in common" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    assert not (tmp_path / "b.pt").exists()
    count = CliRunner().invoke(main, ["finetune", "--low-dose", str(low), *common])
    assert count.exit_code == 2
    assert "1 --low-dose but 0 --full-dose" in count.output
