"""Bad input through the command line: one line, exit code 2, nothing written, input intact."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from click.testing import CliRunner

from meddenoise.cli import main

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def _truncated_dicom(tmp: Path) -> Path:
    data = (PYDICOM_FILES / "CT_small.dcm").read_bytes()
    path = tmp / "truncated.dcm"
    path.write_bytes(data[: len(data) // 2])
    return path


def _copy(name: str):
    def make(tmp: Path) -> Path:
        return Path(shutil.copy(PYDICOM_FILES / name, tmp / name))

    return make


def _no_pixel_data(tmp: Path) -> Path:
    ds = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm")
    del ds.PixelData
    path = tmp / "nopixels.dcm"
    ds.save_as(path)
    return path


def _mixed_sizes(tmp: Path) -> Path:
    folder = tmp / "mixed"
    folder.mkdir()
    ds = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm")
    ds.save_as(folder / "a.dcm")
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.ImagePositionPatient = [0.0, 0.0, 50.0]
    arr = ds.pixel_array[:64, :32].copy()
    ds.Rows, ds.Columns = arr.shape
    ds.PixelData = arr.tobytes()
    ds.save_as(folder / "b.dcm")
    return folder


def _nan_nifti(tmp: Path) -> Path:
    import nibabel as nib

    data = np.ones((8, 8, 2), np.float32)
    data[3, 3, 1] = np.nan
    path = tmp / "nan.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    return path


def _unknown(tmp: Path) -> Path:
    path = tmp / "notes.txt"
    path.write_text("not an image")
    return path


def _empty_folder(tmp: Path) -> Path:
    folder = tmp / "empty"
    folder.mkdir()
    return folder


CASES = {
    "truncated DICOM": (_truncated_dicom, "truncated"),
    "RTSTRUCT": (_copy("rtstruct.dcm"), "not an image"),
    "SR": (_copy("reportsi.dcm"), "not an image"),
    "missing PixelData": (_no_pixel_data, "PixelData"),
    "differing Rows/Columns": (_mixed_sizes, "size"),
    "NaN in NIfTI": (_nan_nifti, "NaN"),
    "unknown file type": (_unknown, "unknown file type"),
    "empty folder": (_empty_folder, ""),
}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from meddenoise.checkpoint import save_checkpoint
    from meddenoise.models import build_model

    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, build_model("nen", depth=1))
    return path


def _digest(path: Path) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, model_path, case):
    make, words = CASES[case]
    source = make(tmp_path)
    before = _digest(source)
    outdir = tmp_path / "out"
    outdir.mkdir()
    for target in (outdir / "series", outdir / "out.nii.gz"):
        result = CliRunner().invoke(
            main, ["denoise", str(source), "-o", str(target), "--model", str(model_path)]
        )
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith("Error: ")
        assert source.name in lines[0]
        assert words.lower() in lines[0].lower()
        assert "Traceback" not in result.output
    assert list(outdir.iterdir()) == []
    assert _digest(source) == before
