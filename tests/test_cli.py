import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from meddenoise import __version__
from meddenoise.cli import _Group, main
from meddenoise.errors import InputError, ProcessingError


def test_version_and_help():
    runner = CliRunner()
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "models" in result.output


def test_models_names_the_shipped_default_model():
    result = CliRunner().invoke(main, ["models"])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("default model: default-")
    assert "two_stage" in last


def test_models_lists_architectures_with_exact_counts():
    result = CliRunner().invoke(main, ["models"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[1:]}
    assert lines["two_stage"] == ["586,242", "38.34"]
    assert lines["nen"][0] == "283,776"


def test_bad_usage_exits_2():
    result = CliRunner().invoke(main, ["models", "--size", "0"])
    assert result.exit_code == 2
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2


@pytest.fixture
def failing_group():
    @click.group(cls=_Group)
    def group() -> None:
        pass

    @group.command()
    @click.argument("what")
    def fail(what: str) -> None:
        if what == "input":
            raise InputError("scan.dcm: truncated file\nsecond line never shown")
        if what == "processing":
            raise ProcessingError("model diverged")
        raise ZeroDivisionError("bug")

    return group


@pytest.mark.parametrize(
    ("what", "code", "message"),
    [
        ("input", 2, "Error: scan.dcm: truncated file\n"),
        ("processing", 1, "Error: model diverged\n"),
        ("bug", 1, "Error: internal error: ZeroDivisionError: bug (set MEDDENOISE_DEBUG=1"),
    ],
)
def test_errors_become_one_line_and_an_exit_code(failing_group, what, code, message):
    result = CliRunner().invoke(failing_group, ["fail", what])
    assert result.exit_code == code
    assert result.output.startswith(message)
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_debug_env_shows_the_real_exception(failing_group, monkeypatch):
    monkeypatch.setenv("MEDDENOISE_DEBUG", "1")
    result = CliRunner().invoke(failing_group, ["fail", "bug"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_importing_the_cli_does_not_import_torch():
    code = "import sys, meddenoise.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "meddenoise"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert out.returncode == 0
    assert __version__ in out.stdout


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch

    from meddenoise.checkpoint import save_checkpoint
    from meddenoise.models import build_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, build_model("nen", depth=1))
    return path


@pytest.fixture
def volume(tmp_path):
    import nibabel as nib
    import numpy as np

    data = np.random.default_rng(0).integers(0, 500, (24, 20, 4)).astype(np.int16)
    path = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    return path


def test_denoise_writes_and_reports_a_closing_line(tiny_model, volume, tmp_path):
    out = tmp_path / "out.nii.gz"
    args = ["denoise", str(volume), "-o", str(out), "--model", str(tiny_model), "--threads", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert out.is_file()
    closing = result.stdout.strip().splitlines()[-1]
    assert closing.startswith(f"wrote {out}: 4 slices in ")
    assert closing.endswith("slices/s)")
    assert "4/4 tiles" in result.stderr  # plain progress off a terminal
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2
    assert "already exists" in again.output


def test_denoise_without_a_shipped_model_exits_2(volume, tmp_path, monkeypatch):
    import meddenoise.api as api

    monkeypatch.setattr(api, "WEIGHTS_DIR", tmp_path / "none")
    out = tmp_path / "out.nii.gz"
    result = CliRunner().invoke(main, ["denoise", str(volume), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "no trained default model" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "missing.pt"], "no such checkpoint"),
        (["--device", "tpu"], "unknown device"),
        (["--precision", "fp16", "--device", "cpu"], "not supported on the CPU"),
    ],
)
def test_denoise_bad_usage_exits_2_with_one_line(tiny_model, volume, tmp_path, args, message):
    if "--model" not in args:
        args = [*args, "--model", str(tiny_model)]
    out = tmp_path / "out.nii.gz"
    result = CliRunner().invoke(main, ["denoise", str(volume), "-o", str(out), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_denoise_bad_input_exits_2_and_writes_nothing(tiny_model, tmp_path):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00 truncated")
    out = tmp_path / "out.nii.gz"
    result = CliRunner().invoke(
        main, ["denoise", str(bad), "-o", str(out), "--model", str(tiny_model)]
    )
    assert result.exit_code == 2, result.output
    assert str(bad) in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.nii.gz"]


def test_info_describes_without_patient_data(volume):
    result = CliRunner().invoke(main, ["info", str(volume), "--modality", "MR"])
    assert result.exit_code == 0, result.output
    assert "nifti" in result.output
    assert "slices" in result.output
    missing = CliRunner().invoke(main, ["info", "nowhere.dcm"])
    assert missing.exit_code == 2
    assert missing.output.startswith("Error: nowhere.dcm: no such file")


def test_info_prints_the_series_description_only_with_include_phi(tmp_path):
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "OT", "Sentinel^Patient", "SENTINEL-ID"
    ds.SeriesDescription = "head of SENTINEL DESCRIPTION"
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.arange(64, dtype=np.uint16).tobytes()
    path = tmp_path / "one.dcm"
    ds.save_as(path, enforce_file_format=True)
    plain = CliRunner().invoke(main, ["info", str(path)])
    assert plain.exit_code == 0, plain.output
    assert "rows" in plain.output
    for sentinel in ("SENTINEL", "Sentinel"):
        assert sentinel not in plain.output
    phi = CliRunner().invoke(main, ["info", str(path), "--include-phi"])
    assert "SENTINEL DESCRIPTION" in phi.output
    assert "Sentinel^Patient" not in phi.output


def test_evaluate_writes_csv_and_markdown_and_is_deterministic(tiny_model, tmp_path):
    from PIL import Image

    rng = __import__("numpy").random.default_rng(0)
    data = tmp_path / "imgs"
    data.mkdir()
    for k in range(2):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3)).astype("uint8")).save(data / f"{k}.png")
    args = [
        "evaluate",
        "--data",
        str(data),
        "--family",
        "dermoscopy",
        "--model",
        f"tiny={tiny_model}",
        "--sigmas",
        "25",
        "--noise",
        "gaussian",
        "--methods",
        "noisy,tv",
        "--crop",
        "48",
    ]
    first = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "a.csv")])
    assert first.exit_code == 0, first.output
    assert "dermoscopy" in first.stdout
    assert "tiny" in first.stdout
    second = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "b.csv")])
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.md").is_file()
    again = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "a.csv")])
    assert again.exit_code == 2
    assert "already exists" in again.output
    bad = CliRunner().invoke(main, [*args[:-6], "--sigmas", "ten"])
    assert bad.exit_code == 2
    del second
