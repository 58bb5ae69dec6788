"""The README's commands and example are the first thing a user runs: keep them working."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_starts_with_setup_and_test_commands():
    first, second = _blocks("bash")[:2]
    assert "pip install torch==2.13.0" in first
    assert "meddenoise" in first.split("&&")[-1]
    assert "pytest" in second
    assert "'.[test,dicom-codecs]'" in second


def test_readme_python_example_runs(capsys):
    (example,) = _blocks("python")
    exec(compile(example, str(README), "exec"), {})
    psnr = float(capsys.readouterr().out)
    assert psnr == pytest.approx(20.7, abs=0.05)
