import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import bench_finetune


def test_prints_throughput_and_ratio_for_tiny_steps(capsys):
    bench_finetune.main(
        ["--arch", "nen", "--patch", "16", "--batch", "2", "--steps", "1", "--no-slices"]
    )
    out = capsys.readouterr().out
    rates = [float(m) for m in re.findall(r"([\d.]+) slices/s", out)]
    assert len(rates) == 2
    assert all(r > 0 for r in rates)
    assert re.search(r"bf16 / fp32 throughput = [\d.]+x", out)


def test_slices_per_second_counts_512_squared_pixels():
    timing = bench_finetune.Timing("x", "fp32", batch=64, side=64, seconds=2.0)
    assert timing.patches_per_second == pytest.approx(32.0)
    assert timing.slices_per_second == pytest.approx(0.5)


def test_unknown_precision_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        bench_finetune.main(["--precisions", "fp8"])
    assert exc.value.code == 2


def test_the_frozen_stage_one_configuration_reports_its_speed_up(capsys):
    bench_finetune.main(
        ["--patch", "16", "--batch", "1", "--steps", "1", "--no-slices", "--precisions", "fp32"]
    )
    out = capsys.readouterr().out
    assert "NEN frozen" in out
    assert re.search(r"NEN frozen / full fine-tuning throughput = [\d.]+x", out)
