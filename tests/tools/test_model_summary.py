import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "model_summary.py"


def test_prints_38_34_g_for_the_full_model_at_256():
    out = subprocess.run(
        [sys.executable, str(TOOL), "--arch", "two_stage"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert rows["NEN"] == ["283,776", "18.56G"]
    assert rows["NOB"] == ["18,594", "1.21G"]
    assert rows["RN"] == ["302,466", "19.78G"]
    assert rows["total"] == ["586,242", "38.34G"]
