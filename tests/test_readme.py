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
    assert "'.[test,dicom-codecs,node]'" in second


def test_readme_python_example_runs(capsys, monkeypatch):
    (example,) = _blocks("python")
    monkeypatch.chdir(README.parent)
    exec(compile(example, str(README), "exec"), {})
    before, after = re.fullmatch(r"(\S+) dB -> (\S+) dB\n", capsys.readouterr().out).groups()
    assert float(before) == pytest.approx(20.2, abs=0.05)
    assert float(after) > float(before) + 5  # the default model denoises
    # and the README says what it prints with the model shipped today
    claimed = re.search(r"->\s+(\S+) dB with the model\s+shipped today", README.read_text())
    assert claimed is not None
    assert float(after) == pytest.approx(float(claimed.group(1)), abs=0.1)


@pytest.mark.slow
def test_readme_first_command_denoises_the_sample_series(tmp_path):
    from click.testing import CliRunner

    from meddenoise.cli import main
    from meddenoise.io import read_image

    command = _blocks("bash")[0].split("&&")[-1].split()
    assert command[:2] == ["meddenoise", "denoise"]
    args = command[2:]
    args[args.index("-o") + 1] = str(tmp_path / "out")
    source = README.parent / args[0]
    args[0] = str(source)
    result = CliRunner().invoke(main, ["denoise", *args])
    assert result.exit_code == 0, result.output
    before, after = read_image(source), read_image(tmp_path / "out")
    assert after.shape == before.shape
    assert after.pixels.dtype == before.pixels.dtype
    assert (after.pixels != before.pixels).any()
