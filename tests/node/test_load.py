"""Load: four concurrent associations of 50 instances each through a node process.

The node runs as ``python -m meddenoise.node`` (the deployed command) with
``MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072``, as docs/deploy.md recommends: glibc
otherwise gives every thread its own heap and keeps freed slice buffers in its heaps, and
the peak then drifts by 13 to 86 MB (four runs) whatever the node does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.node.conftest import STORESCU, storescu, wait_for
from tests.node.orthanc import Orthanc, free_port
from tests.node.series import PATIENT_ID, PATIENT_NAME, write_series

pytest.importorskip("pynetdicom")

#: Growth of the node's peak resident memory allowed while it receives, denoises and
#: forwards 4 x 50 instances of 256 x 256 (25.6 MB of pixel data), measured after one
#: series of the same size went through it. Holding the received instances in memory
#: (29 MB when tried), or denoising two series at once (about 35 MB each), breaks it;
#: 2 MB is usual.
MEMORY_BOUND_MB = 16


def memory_mb(pid: int) -> dict[str, float]:
    """Resident (VmRSS) and peak resident (VmHWM) memory of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def forwarded(log: Path) -> int:
    return log.read_text().count("forwarded, removed from the spool")


@pytest.mark.slow  # about a minute on 2 cores: 250 instances denoised and stored in Orthanc
def test_four_concurrent_associations_lose_nothing_in_bounded_memory(
    orthanc: Orthanc, ct_sources, tiny_checkpoint, tmp_path
):
    if not STORESCU.is_file():
        pytest.skip("dcmtk's storescu is not installed")
    series = [write_series(ct_sources, tmp_path / f"s{k}", count=50, factor=2) for k in range(5)]
    port, spool, log = free_port(), tmp_path / "spool", tmp_path / "node.log"
    command = [
        sys.executable, "-m", "meddenoise.node",
        "--host", "127.0.0.1", "--port", str(port), "--storage", str(spool),
        "--forward", f"127.0.0.1:{orthanc.dicom_port}:ORTHANC",
        "--allow-calling", "WARMUP,LOAD0,LOAD1,LOAD2,LOAD3",
        "--model", str(tiny_checkpoint), "--device", "cpu", "--threads", "1",
        "--stable-seconds", "1", "--retry-initial", "0.5", "--retry-max", "2",
    ]  # fmt: skip
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072"}
    with log.open("w") as out:
        node = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(lambda: "listening on" in log.read_text(), 60, "the node to listen")
        # one series through first: modules, model and allocator pools are then in place
        assert storescu(series[0], port, calling="WARMUP").returncode == 0
        wait_for(lambda: forwarded(log) == 1, 120, "the first series to be forwarded")
        before = memory_mb(node.pid)

        senders = [
            subprocess.Popen(
                [
                    str(STORESCU),
                    "-aet",
                    f"LOAD{k}",
                    "-aec",
                    "MEDDENOISE",
                    "127.0.0.1",
                    str(port),
                    *map(str, files),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for k, files in enumerate(series[1:])
        ]
        for sender in senders:
            output, _ = sender.communicate(timeout=300)
            assert sender.returncode == 0, output
        wait_for(lambda: forwarded(log) == 5, 300, "all five series to be forwarded")
        after = memory_mb(node.pid)
    finally:
        node.send_signal(signal.SIGTERM)
        try:
            code = node.wait(timeout=60)
        except subprocess.TimeoutExpired:
            node.kill()
            raise
    text = log.read_text()

    assert sorted(len(s["Instances"]) for s in orthanc.series()) == [50] * 5
    assert len(os.listdir(spool / "forwarded")) == 5
    assert os.listdir(spool / "jobs") == []
    assert os.listdir(spool / "incoming") == []
    assert text.count("released: 50 instances in 1 series") == 5
    growth = after["VmHWM"] - before["VmHWM"]
    print(f"node peak memory {before['VmHWM']:.0f} -> {after['VmHWM']:.0f} MB under load")
    assert growth < MEMORY_BOUND_MB, f"peak memory grew by {growth:.1f} MB ({before} -> {after})"
    # a clean shutdown on SIGTERM, no traceback, no patient data in the log
    assert code == 0
    assert text.splitlines()[-1].endswith("node MEDDENOISE stopped")
    assert "Traceback" not in text
    assert PATIENT_NAME not in text
    assert PATIENT_ID not in text
