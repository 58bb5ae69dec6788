"""``meddenoise batch --engine ray`` on a real local Ray cluster of two worker CPUs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest

from .conftest import snapshot

pytest.importorskip("ray")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A head node with 2 CPUs on 127.0.0.1, stopped afterwards."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray is not None
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths
    start = [
        ray, "start", "--head", "--num-cpus", "2", "--port", str(port),
        "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
        "--disable-usage-stats", "--temp-dir", temp,
    ]  # fmt: skip
    subprocess.run(start, check=True, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_engine_matches_the_local_engine(
    ray_cluster: str, inputs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    def batch(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable, "-m", "meddenoise.cli", "batch", str(inputs), "-o", str(out),
            "--model", str(tiny_model), *extra,
        ]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=600)

    local = batch(tmp_path / "local", "--threads", "1")
    assert local.returncode == 0, local.stderr
    remote = batch(tmp_path / "ray", "--engine", "ray", "--address", ray_cluster, "--workers", "2")
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout.count("done (") == 4
    records = [
        json.loads(line) for line in (tmp_path / "ray" / "manifest.jsonl").read_text().splitlines()
    ]
    done = [r for r in records if r["status"] == "done"]
    assert len(done) == 4
    workers = {r["worker"] for r in done}
    assert len(workers) == 2, f"expected two Ray workers, saw {workers}"
    assert not any(str(w).endswith(f":{os.getpid()}") for w in workers)

    ours, theirs = snapshot(tmp_path / "local"), snapshot(tmp_path / "ray")
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        if name.endswith(".dcm"):
            a, b = (
                pydicom.dcmread(tmp_path / "local" / name),
                pydicom.dcmread(tmp_path / "ray" / name),
            )
            assert a.SOPInstanceUID == b.SOPInstanceUID
            assert a.SeriesInstanceUID == b.SeriesInstanceUID
            diff = np.abs(a.pixel_array.astype(np.int32) - b.pixel_array.astype(np.int32))
            assert diff.max() <= 1  # one torch thread per worker in both runs
        else:
            assert ours[name] == theirs[name], name

    again = batch(tmp_path / "ray", "--engine", "ray", "--address", ray_cluster)
    assert again.returncode == 0, again.stderr
    assert "4 already done" in again.stdout


def test_unreachable_cluster_is_a_one_line_error(
    inputs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    command = [
        sys.executable, "-m", "meddenoise.cli", "batch", str(inputs), "-o", str(tmp_path / "o"),
        "--model", str(tiny_model), "--engine", "ray", "--address", f"127.0.0.1:{_free_port()}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: cannot connect to Ray")
    assert "Traceback" not in result.stderr
