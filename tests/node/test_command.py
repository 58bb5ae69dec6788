"""``meddenoise serve`` / ``python -m meddenoise.node``: options and one-line errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from meddenoise.cli import _Group
from meddenoise.node.command import default_storage, serve_command


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meddenoise.node", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_importing_the_command_loads_no_heavy_module():
    code = (
        "import sys, meddenoise.node.command; "
        "print(sorted(m for m in ('torch', 'pydicom', 'pynetdicom', 'numpy', "
        "'dicomweb_client') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--forward", "pacs:104"], "destination 'pacs:104': expected HOST:PORT:AET"),
        ([], "nowhere to send results"),
        (["--stow-url", "pacs/dicom-web"], "expected http://"),
        (["--forward", "p:1:P", "--allow-calling", "A,WAY_TOO_LONG_FOR_AN_AE"], "calling AE"),
    ],
)
def test_bad_options_are_one_line_errors_with_exit_code_2(tmp_path, args, message):
    result = serve("--storage", str(tmp_path / "spool"), *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")
    assert message in lines[0]
    assert not (tmp_path / "spool").exists()


def test_the_command_group_reports_the_same_way(tmp_path):
    group = _Group(commands={"serve": serve_command})
    result = CliRunner().invoke(group, ["serve", "--storage", str(tmp_path), "--forward", "x"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: destination 'x': expected HOST:PORT:AET, e.g. pacs:104:PACS"
    )


def test_an_unusable_model_is_an_error_before_listening(tmp_path):
    result = serve(
        "--storage", str(tmp_path / "spool"), "--forward", "127.0.0.1:9:X",
        "--model", str(tmp_path / "missing.pt"), "--port", "0", "--host", "127.0.0.1",
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"Error: {tmp_path / 'missing.pt'}: no such checkpoint file"
    )


def test_help_lists_the_options():
    result = CliRunner().invoke(serve_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--ae-title", "--forward", "--allow-calling", "--storage", "--stow-url"):
        assert option in result.output


def test_the_default_spool_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_storage() == tmp_path / "meddenoise" / "node"


def test_sigterm_stops_the_node_cleanly(tmp_path, tiny_checkpoint):
    node = subprocess.Popen(
        [sys.executable, "-m", "meddenoise.node", "--storage", str(tmp_path / "spool"),
         "--forward", "127.0.0.1:9:X", "--model", str(tiny_checkpoint), "--device", "cpu",
         "--host", "127.0.0.1", "--port", "0"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            lines.append(node.stderr.readline())
            if "listening on" in lines[-1]:
                break
        assert "listening on 127.0.0.1:" in lines[-1]
        assert any("any caller may store" in line for line in lines)
        node.send_signal(signal.SIGTERM)
        rest = node.communicate(timeout=30)[1]
    finally:
        node.kill()
    assert node.returncode == 0
    assert rest.strip().splitlines()[-1].endswith("INFO node MEDDENOISE stopped")
    assert "Traceback" not in rest
