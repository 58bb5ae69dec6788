"""The scripts in examples/ run as documented, on small real data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from meddenoise.checkpoint import save_checkpoint
from meddenoise.models import build_model

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, build_model("nen", depth=1))
    return str(path)


def _script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(EXAMPLES / name), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO)


def test_denoise_study(tmp_path: Path, tiny: str) -> None:
    study = tmp_path / "study"
    shutil.copytree(EXAMPLES / "data" / "ct_phantom", study / "phantom")
    shutil.copytree(EXAMPLES / "data" / "ct_head", study / "head")
    result = _script("denoise_study.py", str(study), str(tmp_path / "out"), "--model", tiny)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["001-head", "002-phantom"]
    derived = pydicom.dcmread(next((tmp_path / "out" / "002-phantom").iterdir()))
    source = pydicom.dcmread(study / "phantom" / "I130", stop_before_pixels=True)
    assert derived.StudyInstanceUID == source.StudyInstanceUID
    first = {p.name: p.read_bytes() for p in (tmp_path / "out").rglob("*.dcm")}
    again = _script("denoise_study.py", str(study), str(tmp_path / "out"), "--model", tiny)
    assert again.returncode == 0
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").rglob("*.dcm")} == first


def test_nifti_folder(tmp_path: Path, shared_data: Path, tiny: str) -> None:
    src = tmp_path / "in" / "subject01"
    src.mkdir(parents=True)
    shutil.copy(shared_data / "mri" / "aniso_vox.nii.gz", src)
    shutil.copy(shared_data / "mri" / "S0_10slices.nii.gz", src)
    out = tmp_path / "out"
    result = _script("nifti_folder.py", str(tmp_path / "in"), str(out), "--model", tiny)
    assert result.returncode == 0, result.stderr
    assert "2 denoised, 0 already done, 0 failed" in result.stdout
    assert (out / "subject01" / "aniso_vox.nii.gz").is_file()
    statuses = [json.loads(line)["status"] for line in (out / "manifest.jsonl").open()]
    assert statuses.count("done") == 2
    again = _script("nifti_folder.py", str(tmp_path / "in"), str(out), "--model", tiny)
    assert "0 denoised, 2 already done, 0 failed" in again.stdout


def test_watch_folder(tmp_path: Path, tiny: str) -> None:
    root = tmp_path / "root"
    shutil.copytree(EXAMPLES / "data" / "ct_phantom", root / "inbox" / "series-a")
    (root / "inbox" / "series-b").mkdir()
    (root / "inbox" / "series-b" / "junk.dcm").write_bytes(b"not dicom")
    args = [str(root), "--model", tiny, "--stable-seconds", "0", "--once"]
    result = _script("watch_folder.py", *args)
    assert result.returncode == 0, result.stderr
    assert len(list((root / "outbox" / "series-a").glob("*.dcm"))) == 3
    assert (root / "done" / "series-a" / "I130").is_file()
    assert (root / "failed" / "series-b" / "reason.txt").read_text().strip()
    assert list((root / "inbox").iterdir()) == []
    assert "series-a: 3 slices denoised" in result.stderr
    source = pydicom.dcmread(EXAMPLES / "data" / "ct_phantom" / "I130", stop_before_pixels=True)
    for phi in (str(source.PatientName), str(source.PatientID)):
        assert phi
        assert phi not in result.stderr
