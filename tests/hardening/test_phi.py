"""No patient data in what the command line prints, logs or reports, unless --include-phi.

The input is a DICOM series whose patient attributes hold marker values, one of them
(InstitutionName) re-labelled VR IS so that pydicom finds its value invalid: pydicom's
warning about it quotes the value, and must not reach the terminal. ``denoise`` (to DICOM
and to NIfTI, with ``-v`` and ``--report``), ``info`` and ``batch`` (its manifest and
report) run in a subprocess, so that warnings reach stderr as a user sees them, and must
not show any marker; with ``--include-phi`` the report shows the patient name (the
markers do travel, so their absence elsewhere means something).

Not checked here: ``info`` prints the SeriesDescription (its own design, not a report),
and the derived DICOM files keep the patient module, as they must.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from meddenoise.cli import DEBUG_ENV, main
from tests.hardening.conftest import run_cli, snapshot
from tests.hardening.corpus import _dicom_bytes, _phantom

MARK = "PHIMARK"
PATIENT = {
    "PatientName": f"{MARK}NAME^JANE",
    "PatientID": f"{MARK}ID42",
    "PatientBirthDate": "19010203",
    "AccessionNumber": f"{MARK}ACC",
    "ReferringPhysicianName": f"{MARK}REF^DR",
    "OtherPatientIDs": f"{MARK}OTHER",
}
#: InstitutionName's value, in an element re-labelled VR IS (invalid as an integer).
INSTITUTION = f"{MARK}INST"
RUN = ("--device", "cpu", "--threads", "1")


def _series(folder: Path, *, description: str = "plain description") -> Path:
    """Three cropped phantom slices with the markers (and the invalid IS element)."""
    folder.mkdir(parents=True)
    for k in range(3):
        ds = _phantom(k)
        for keyword, value in PATIENT.items():
            setattr(ds, keyword, value)
        ds.SeriesDescription = description
        ds.InstitutionName = INSTITUTION
        data = bytearray(_dicom_bytes(ds))
        at = data.index(b"\x08\x00\x80\x00LO")
        data[at + 4 : at + 6] = b"IS"
        (folder / f"IM{k}.dcm").write_bytes(bytes(data))
    return folder


def _invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env={DEBUG_ENV: "1"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _run(*args: str) -> str:
    """Run the command line in a subprocess; return stdout and stderr together."""
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout + done.stderr


def _assert_no_marks(text: str, where: str) -> None:
    upper = text.upper()
    assert MARK not in upper, f"patient data in {where}"
    assert "19010203" not in text, f"the birth date in {where}"


@pytest.mark.filterwarnings("error::UserWarning")
def test_reading_does_not_warn_with_patient_values(tmp_path: Path) -> None:
    from meddenoise.io import read_image

    image = read_image(_series(tmp_path / "ct"))
    assert image.n_slices == 3


@pytest.mark.parametrize("output", ["series", "out.nii.gz"])
def test_denoise_prints_and_reports_no_patient_data(
    output: str, tmp_path: Path, tiny_model: Path
) -> None:
    source = _series(tmp_path / "in" / "ct", description=f"{MARK}DESC")
    before = snapshot(tmp_path / "in")
    report = tmp_path / "report.html"
    printed = _run(
        "denoise",
        str(source),
        "-o",
        str(tmp_path / output),
        "--model",
        str(tiny_model),
        *RUN,
        "-v",
        "--report",
        str(report),
    )
    assert "wrote" in printed
    _assert_no_marks(printed, "the output of denoise")
    _assert_no_marks(report.read_text(encoding="utf-8"), "the report")
    assert snapshot(tmp_path / "in") == before

    with_phi = tmp_path / "phi.html"
    _invoke(
        "denoise",
        str(source),
        "-o",
        str(tmp_path / f"phi-{output}"),
        "--model",
        str(tiny_model),
        *RUN,
        "-q",
        "--report",
        str(with_phi),
        "--include-phi",
    )
    text = with_phi.read_text(encoding="utf-8")
    assert f"{MARK}NAME" in text
    assert f"{MARK}ID42" in text


def test_info_prints_no_patient_data(tmp_path: Path) -> None:
    printed = _run("info", str(_series(tmp_path / "ct")))
    assert printed.startswith("format")
    _assert_no_marks(printed, "the output of info")


def test_batch_manifest_and_report_hold_no_patient_data(tmp_path: Path, tiny_model: Path) -> None:
    root = tmp_path / "in"
    _series(root / "a", description=f"{MARK}DESC")
    _series(root / "b", description=f"{MARK}DESC")
    before = snapshot(root)
    out = tmp_path / "out"
    report = tmp_path / "batch.html"
    printed = _run(
        "batch",
        str(root),
        "-o",
        str(out),
        "--model",
        str(tiny_model),
        *RUN,
        "--report",
        str(report),
    )
    _assert_no_marks(printed, "the output of batch")
    _assert_no_marks(report.read_text(encoding="utf-8"), "the batch report")
    texts = [p for p in out.rglob("*") if p.suffix in (".jsonl", ".json", ".log", ".html", ".txt")]
    assert any(p.name.startswith("manifest") for p in texts)
    for path in texts:
        _assert_no_marks(path.read_text(encoding="utf-8"), str(path.relative_to(tmp_path)))
    assert snapshot(root) == before


def test_undecodable_patient_element_is_named_not_quoted(tmp_path: Path) -> None:
    """PatientName re-labelled VR US with an odd length: the error names the tag only."""
    ds = _phantom(0)
    ds.PatientName = f"{MARK}NAME^JANE"
    data = bytearray(_dicom_bytes(ds))
    at = data.index(b"\x10\x00\x10\x00PN")
    length = struct.unpack("<H", data[at + 6 : at + 8])[0]
    data[at + 4 : at + 8] = b"US" + struct.pack("<H", length - 1)
    del data[at + 8 + length - 1]
    path = tmp_path / "bad.dcm"
    path.write_bytes(bytes(data))
    done = run_cli("info", str(path))
    assert done.returncode == 2, done.stderr
    assert "(0010,0010)" in done.stderr
    _assert_no_marks(done.stdout + done.stderr, "the error message")
