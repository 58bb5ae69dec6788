from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from meddenoise.cli import main


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["batch", *args])
    return result.exit_code, result.stdout, result.stderr


def test_progress_lines_summary_and_exit_code_1_on_a_failed_item(
    inputs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    (inputs / "mri" / "empty.nii.gz").write_bytes(b"")
    out = str(tmp_path / "out")
    code, stdout, stderr = _run(
        str(inputs), "-o", out, "--model", str(tiny_model), "--threads", "1"
    )
    assert code == 1, stderr
    lines = stdout.splitlines()
    assert [line.split("]")[0] + "]" for line in lines[:-1]] == [f"[{i}/5]" for i in range(1, 6)]
    assert any("mri/empty.nii.gz: FAILED:" in line for line in lines)
    assert lines[-1].startswith("5 items: 4 done, 1 failed in ")
    assert "Traceback" not in stdout + stderr
    # Run again: the failure is retried (and fails again), the rest is already done.
    code, stdout, _ = _run(str(inputs), "-o", out, "--model", str(tiny_model), "-q")
    assert code == 1
    assert "[" not in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shard", "2/2"], "Error: --shard 2/2: K must be 0 to N-1"),
        (["--shard", "x"], "Error: --shard x: expected K/N"),
        (["--pattern", "*.nothing"], "no volume, image or DICOM series matching"),
    ],
)
def test_bad_options_are_one_line_errors_with_exit_code_2(
    inputs: Path, tmp_path: Path, tiny_model: Path, args: list[str], message: str
) -> None:
    code, _, stderr = _run(
        str(inputs), "-o", str(tmp_path / "o"), "--model", str(tiny_model), *args
    )
    assert code == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "manifest.jsonl").exists()


def test_missing_input_and_output_that_is_a_file(tmp_path: Path, tiny_model: Path) -> None:
    code, _, stderr = _run(str(tmp_path / "nope"), "-o", str(tmp_path / "o"))
    assert code == 2
    assert "no such folder" in stderr
    (tmp_path / "in").mkdir()
    (tmp_path / "file").write_text("x")
    code, _, stderr = _run(str(tmp_path / "in"), "-o", str(tmp_path / "file"))
    assert code == 2
    assert "is a file" in stderr
