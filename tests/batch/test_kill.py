"""A batch killed with SIGKILL in the middle and run again: nothing lost, nothing twice."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import nibabel as nib
import numpy as np

from .conftest import snapshot

VOLUMES = 12


def _volumes(root: Path, shared_data: Path) -> Path:
    """Twelve small real MRI volumes (slabs of the dipy S0 volume) in two folders."""
    source = nib.load(shared_data / "mri" / "S0_10slices.nii.gz")
    data = np.asarray(source.dataobj)[..., 0]
    for index in range(VOLUMES):
        folder = root / f"patient{index % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        slab = np.ascontiguousarray(
            np.roll(data, index * 7, axis=0)[:, :, index % 8 : index % 8 + 3]
        )
        nib.save(nib.Nifti1Image(slab, source.affine), folder / f"vol{index:02d}.nii.gz")
    return root


def _batch(src: Path, out: Path, model: Path) -> list[str]:
    return [
        sys.executable, "-m", "meddenoise.cli", "batch", str(src), "-o", str(out),
        "--model", str(model), "--threads", "1",
    ]  # fmt: skip


def _records(out: Path) -> list[dict[str, object]]:
    path = out / "manifest.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # the line a kill cut
            records.append(json.loads(line))
    return records


def test_sigkill_and_rerun(tmp_path: Path, shared_data: Path, tiny_model: Path) -> None:
    src = _volumes(tmp_path / "in", shared_data)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(_batch(src, out, tiny_model), env=env, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = [r for r in _records(out) if r["status"] == "done"]
        if len(done) >= 3:
            break
        assert first.poll() is None, "the batch ended before it could be killed"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    killed_done = {str(r["key"]) for r in _records(out) if r["status"] == "done"}
    assert 3 <= len(killed_done) < VOLUMES, "the kill should land in the middle"

    second = subprocess.run(
        _batch(src, out, tiny_model), env=env, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stderr
    processed = [
        line.split()[1].rstrip(":") for line in second.stdout.splitlines() if line.startswith("[")
    ]
    assert not set(processed) & killed_done, "finished items were processed again"
    records = _records(out)
    done_counts = Counter(str(r["key"]) for r in records if r["status"] == "done")
    assert len(done_counts) == VOLUMES
    assert set(done_counts.values()) == {1}, "an item was recorded done twice"
    assert not list(out.rglob("*.partial")), "a partial output was left behind"

    # The result is exactly what an uninterrupted run gives.
    clean = subprocess.run(
        _batch(src, tmp_path / "clean", tiny_model), env=env, capture_output=True, timeout=300
    )
    assert clean.returncode == 0
    assert snapshot(out) == snapshot(tmp_path / "clean")
