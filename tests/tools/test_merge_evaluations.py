import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "merge_evaluations.py"
HEADER = "family,method,kind,sigma,psnr,ssim,delta_e,vifp,mse,n\n"


def _csv(path, rows):
    path.write_text(
        HEADER + "".join(f"ct,{m},gaussian,{s},{p},{q},1,1,1,1\n" for m, s, p, q in rows)
    )
    return path


def _run(*args):
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True
    )


def test_models_of_a_second_run_are_compared_with_the_first_runs_baseline(tmp_path):
    base = _csv(tmp_path / "a.csv", [("noisy", 25, 20.0, 0.3), ("bm3d", 25, 30.0, 0.8)])
    new = _csv(tmp_path / "b.csv", [("noisy", 25, 20.0, 0.3), ("model", 25, 31.5, 0.9)])
    done = _run(base, new, "--out", tmp_path / "m.md")
    assert done.returncode == 0, done.stderr
    assert "| model | 31.50 (+1.50) |" in done.stdout
    assert (tmp_path / "m.md").read_text() == done.stdout


def test_runs_on_other_noise_are_refused(tmp_path):
    base = _csv(tmp_path / "a.csv", [("noisy", 25, 20.0, 0.3), ("bm3d", 25, 30.0, 0.8)])
    new = _csv(tmp_path / "b.csv", [("noisy", 25, 20.1, 0.3), ("model", 25, 31.5, 0.9)])
    done = _run(base, new)
    assert done.returncode == 2
    assert done.stderr.startswith("Error:")
    assert "noisy images differ" in done.stderr
