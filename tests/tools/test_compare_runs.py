import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "compare_runs.py"


def _log(folder, scores, noisy=20.0):
    folder.mkdir()
    lines = [json.dumps({"step": 1, "loss": 0.5})]  # progress lines carry no validation
    for step, (ct, mri) in scores.items():
        record = {"step": step, "loss": 0.1, "ct": ct, "ct_noisy": noisy, "mri": mri}
        lines.append(json.dumps({**record, "mri_noisy": noisy, "mean": (ct + mri) / 2}))
    (folder / "log.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def _run(*args):
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True
    )


def test_the_runs_are_compared_at_their_common_steps_and_in_windows(tmp_path):
    a = _log(tmp_path / "a", {100: (30.0, 31.0), 200: (32.0, 33.0), 300: (34.0, 34.0)})
    b = _log(tmp_path / "b", {100: (29.0, 31.0), 200: (32.5, 33.5), 250: (1.0, 1.0)})
    done = _run(a, b / "log.jsonl", "--windows", "2", "--out", tmp_path / "c.md")
    assert done.returncode == 0, done.stderr
    assert "| 100 | 30.00 | 29.00 | +1.00 | 31.00 | 31.00 | +0.00 | 30.50 | 30.00 | +0.50 |" in (
        done.stdout
    )
    assert "| 200 | 32.00 | 32.50 | -0.50 |" in done.stdout
    assert "| 250 " not in done.stdout
    assert "| 300 " not in done.stdout
    assert "| 100-100 | 1 | +0.50 | 1/1 |" in done.stdout
    assert "| 200-200 | 1 | -0.50 | 0/1 |" in done.stdout
    assert (tmp_path / "c.md").read_text() == done.stdout


def test_runs_validated_on_other_noisy_crops_are_refused(tmp_path):
    a = _log(tmp_path / "a", {100: (30.0, 31.0)})
    b = _log(tmp_path / "b", {100: (30.0, 31.0)}, noisy=20.5)
    done = _run(a, b)
    assert done.returncode == 2
    assert done.stderr.startswith("Error: the runs validated on different noisy crops")
    assert done.stdout == ""


def test_windows_split_the_common_steps_into_groups_in_order(tmp_path):
    scores = {step: (30.0 + step, 30.0) for step in range(1, 6)}
    a = _log(tmp_path / "a", scores)
    b = _log(tmp_path / "b", {step: (30.0, 30.0) for step in range(1, 6)})
    two = _run(a, b, "--windows", "2")
    assert "| 1-2 | 2 | +0.75 | 2/2 |" in two.stdout
    assert "| 3-5 | 3 | +2.00 | 3/3 |" in two.stdout
    many = _run(a, b, "--windows", "9")  # at most one group per common step
    assert "| 5-5 | 1 | +2.50 | 1/1 |" in many.stdout
    assert many.stdout.count("/1 |") == 5


def test_logs_that_cannot_be_compared_give_a_one_line_error(tmp_path):
    a = _log(tmp_path / "a", {100: (30.0, 31.0)})
    later = _log(tmp_path / "later", {200: (30.0, 31.0)})
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "log.jsonl").write_text(json.dumps({"step": 1, "loss": 0.5}) + "\n")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "log.jsonl").write_text('{"step": 1, "mean": "high"}\n')
    listed = tmp_path / "listed"
    listed.mkdir()
    (listed / "log.jsonl").write_text("[1, 2]\n")
    blind = tmp_path / "blind"  # validations without the noisy inputs' scores
    blind.mkdir()
    (blind / "log.jsonl").write_text(json.dumps({"step": 100, "ct": 30.0, "mean": 30.0}) + "\n")
    ct_only = tmp_path / "ct_only"
    ct_only.mkdir()
    record = {"step": 100, "ct": 30.0, "ct_noisy": 20.0, "mean": 30.0}
    (ct_only / "log.jsonl").write_text(json.dumps(record) + "\n")
    cases = {
        (a, tmp_path / "nowhere"): "no training log",
        (a, empty): "holds no validation",
        (a, broken): "line 1 is not a training log record",
        (a, listed): "line 1 is not a training log record",
        (a, blind): "holds no validation with the noisy inputs' scores",
        (a, ct_only): "validated different modalities (ct, mri against ct)",
        (a, later): "never validated at the same step",
        (a, a, "--windows", "0"): "--windows must be at least 1",
        (a, a, "--out", tmp_path / "no" / "c.md"): "no such folder for --out",
        (a, a, "--out", tmp_path): "cannot be written",
        (a, a, "--windows", "x"): "invalid int value",
        (a,): "the following arguments are required: run_b",
    }
    for args, message in cases.items():
        done = _run(*args)
        assert done.returncode == 2, args
        assert done.stderr.startswith("Error: "), done.stderr
        assert message in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert done.stdout == ""
