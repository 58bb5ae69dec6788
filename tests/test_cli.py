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
