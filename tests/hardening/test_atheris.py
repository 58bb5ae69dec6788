"""Coverage-guided fuzzing of the readers (atheris), a bounded run in the slow suite."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: Inputs libFuzzer tries after the seeds (about 80 a second on one core).
RUNS = 10_000


@pytest.mark.slow
def test_atheris_finds_no_crash(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    harness = [sys.executable, "-m", "tests.hardening.atheris_readers"]
    corpus = tmp_path / "corpus"
    subprocess.run([*harness, "--seeds", str(corpus)], cwd=REPO, check=True, timeout=120)
    done = subprocess.run(
        [
            *harness,
            f"-runs={RUNS}",
            "-seed=1",
            "-timeout=30",
            "-rss_limit_mb=3072",
            "-print_final_stats=1",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name != "corpus")
    assert done.returncode == 0, f"{crashes}\n{done.stderr[-4000:]}"
    executed = re.search(r"stat::number_of_executed_units:\s*(\d+)", done.stderr)
    assert executed is not None
    assert int(executed.group(1)) >= RUNS
