from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from meddenoise.cli import main
from tests.report.conftest import EXAMPLES, SENTINEL_TEXTS, text_of, write_rgb_png


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args])
    return result.exit_code, result.stdout, result.stderr


def _sections(page: str) -> list[str]:
    return re.findall(r"<h2>\d+\. ([^<]*)</h2>", page)


def test_denoise_report_has_no_patient_data(phi_ct: Path, tmp_path: Path, tiny_model: Path) -> None:
    from meddenoise.checkpoint import file_digest

    out, report = tmp_path / "out", tmp_path / "report.html"
    code, stdout, stderr = _run(
        "denoise", str(phi_ct), "-o", str(out), "--model", str(tiny_model), "--device", "cpu",
        "--report", str(report), "--reference", str(phi_ct), "--threads", "1",
    )  # fmt: skip
    assert code == 0, stderr
    assert (out / "IM00001.dcm").is_file()
    assert f"wrote report {report} (" in stdout
    page = text_of(report.read_text(encoding="utf-8"))
    assert _sections(page) == ["series"]
    assert "tiny.pt (nen)" in page
    assert file_digest(tiny_model)[:12] in page
    assert "Against the reference" in page
    assert "<th>device</th><td>cpu</td>" in page
    for text in SENTINEL_TEXTS:
        assert text.lower() not in page.lower(), text
    assert str(tmp_path) not in page  # names, never full paths


def test_denoise_report_with_include_phi_shows_name_and_id(
    phi_ct: Path, tmp_path: Path, tiny_model: Path
) -> None:
    report = tmp_path / "report.html"
    code, _, stderr = _run(
        "denoise", str(phi_ct), "-o", str(tmp_path / "out.nii.gz"), "--model", str(tiny_model),
        "--report", str(report), "--include-phi", "-q", "--threads", "1",
    )  # fmt: skip
    assert code == 0, stderr
    page = report.read_text(encoding="utf-8")
    assert "Patient name: Doe^Jane, Patient ID: PID-SENTINEL-123" in page
    assert "ACC-SENTINEL" not in page


def test_a_failed_report_keeps_the_output_and_exits_1(tmp_path: Path, tiny_model: Path) -> None:
    card = write_rgb_png(tmp_path / "card.png", size=(40, 48))
    out, report = tmp_path / "card_out.png", tmp_path / "report.html"
    code, stdout, stderr = _run(
        "denoise", str(card), "-o", str(out), "--model", str(tiny_model),
        "--report", str(report), "--reference", str(EXAMPLES / "cell.png"), "-q",
    )  # fmt: skip
    assert code == 1
    assert out.is_file()
    assert stdout == ""
    assert stderr.strip().splitlines() == [
        "Error: report not written: cell.png: the reference has shape (1, 660, 550), "
        "the input (1, 40, 48, 3)"
    ]
    assert not report.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.png", "card_out.png"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--reference", "{tmp}/card.png"], "--reference and --include-phi need --report"),
        (["--include-phi"], "--reference and --include-phi need --report"),
        (["--report", "{tmp}/r.png"], "a report must be an .html file"),
        (["--report", "{tmp}/exists.html"], "already exists (--overwrite replaces it)"),
        (["--report", "{tmp}/r.html", "--reference", "{tmp}/none.png"], "no such file"),
        (["--report", "{tmp}/out.png/r.html"], "may not be or lie inside the output"),
        (["--report", "{tmp}/card.png.html", "--overwrite"], None),
    ],
)
def test_bad_report_options_fail_before_any_work(
    tmp_path: Path, tiny_model: Path, extra: list[str], message: str | None
) -> None:
    card = write_rgb_png(tmp_path / "card.png", size=(40, 48))
    (tmp_path / "exists.html").write_text("keep")
    code, _, stderr = _run(
        "denoise", str(card), "-o", str(tmp_path / "out.png"), "--model", str(tiny_model),
        *[a.format(tmp=tmp_path) for a in extra],
    )  # fmt: skip
    if message is None:  # the control: these options work
        assert code == 0, stderr
        return
    assert code == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1 or "Usage:" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.png", "exists.html"]
    assert (tmp_path / "exists.html").read_text() == "keep"


def _batch_inputs(root: Path, phi_ct: Path) -> Path:
    shutil.copytree(phi_ct, root / "study" / "ct")
    write_rgb_png(root / "card.png", size=(40, 48))
    (root / "broken.nii.gz").write_bytes(b"")
    return root


def test_batch_report_sections_summary_and_rerun(
    phi_ct: Path, tmp_path: Path, tiny_model: Path
) -> None:
    src = _batch_inputs(tmp_path / "in", phi_ct)
    out = tmp_path / "out"
    report = out / "report.html"
    args = ["batch", str(src), "-o", str(out), "--model", str(tiny_model), "--report", str(report)]
    code, stdout, stderr = _run(*args, "--threads", "1")
    assert code == 1  # the broken item
    assert f"wrote report {report} (2 series)" in stdout
    page = text_of(report.read_text(encoding="utf-8"))
    assert _sections(page) == ["card.png", "study/ct"]
    assert re.search(r'<a href="#series-2">study/ct#\w{10}</a></td><td class="done">done<', page)
    assert '<td>broken.nii.gz</td><td class="failed">failed</td>' in page
    assert "INPUT_DIR/broken.nii.gz: empty file" in page
    assert str(tmp_path) not in page
    for text in SENTINEL_TEXTS:
        assert text.lower() not in page.lower(), text

    # A rerun rewrites the report: nothing new denoised, earlier items listed.
    code, stdout, _ = _run(*args)
    assert code == 1
    page = report.read_text(encoding="utf-8")
    assert "no series denoised by this run" in page
    assert re.search(r'<td>study/ct#\w{10}</td><td class="done">done earlier</td>', page)
    assert '<td class="failed">failed</td>' in page

    # With --include-phi (a fresh output folder): the patient data of the DICOM series.
    fresh = tmp_path / "out2"
    code, _, stderr = _run(
        "batch", str(src), "-o", str(fresh), "--model", str(tiny_model),
        "--report", str(tmp_path / "phi.html"), "--include-phi", "-q",
    )  # fmt: skip
    assert code == 1, stderr
    page = (tmp_path / "phi.html").read_text(encoding="utf-8")
    assert "Patient name: Doe^Jane, Patient ID: PID-SENTINEL-123" in page
    assert "No patient data in this format." in page  # the PNG


def test_batch_report_may_not_lie_in_the_input_folder(
    phi_ct: Path, tmp_path: Path, tiny_model: Path
) -> None:
    src = _batch_inputs(tmp_path / "in", phi_ct)
    code, _, stderr = _run(
        "batch", str(src), "-o", str(tmp_path / "out"), "--model", str(tiny_model),
        "--report", str(src / "report.html"),
    )  # fmt: skip
    assert code == 2
    assert "may not be or lie inside the input" in stderr
    assert not (tmp_path / "out").exists()
    # Inside OUTPUT is fine even where OUTPUT lies inside INPUT_DIR.
    code, _, stderr = _run(
        "batch", str(src / "study"), "-o", str(src / "study" / "den"), "--model",
        str(tiny_model), "--report", str(src / "study" / "den" / "r.html"), "-q",
    )  # fmt: skip
    assert code == 0, stderr
    assert (src / "study" / "den" / "r.html").is_file()
