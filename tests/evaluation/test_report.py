from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from meddenoise.errors import InputError
from meddenoise.evaluation import (
    EvaluationConfig,
    EvaluationRecord,
    EvaluationResult,
    format_csv,
    format_markdown,
    format_table,
    write_report,
)

CONFIG = EvaluationConfig(sigmas=(10.0, 50.0), kinds=("gaussian", "speckle"))


def _metrics(psnr: float) -> dict[str, float]:
    return {
        "psnr": psnr,
        "ssim": psnr / 100,
        "delta_e": 40 - psnr,
        "vifp": psnr / 50,
        "mse": 1000 / psnr,
    }


def _result() -> EvaluationResult:
    """Two families; 'ours' beats 'noisy' by 10 dB everywhere; the CT family has 2 crops."""
    records = []
    crops = [("ct/a.nii", 0, "ct"), ("ct/a.nii", 5, "ct"), ("derm/b.jpg", 0, "dermoscopy")]
    for image, index, family in crops:
        for kind in CONFIG.kinds:
            for sigma in CONFIG.sigmas:
                base = 30.0 - sigma / 5 + index + (1.0 if kind == "speckle" else 0.0)
                for method, gain, seconds in (("noisy", 0.0, 0.0), ("ours", 10.0, 0.5)):
                    records.append(
                        EvaluationRecord(
                            image,
                            index,
                            family,
                            method,
                            kind,
                            sigma,
                            _metrics(base + gain),
                            seconds,
                        )
                    )
    return EvaluationResult(tuple(records), CONFIG, ("noisy", "ours"), ("skipped bm3d: absent",))


def test_rows_average_per_family_method_kind_and_sigma() -> None:
    rows = _result().rows()
    assert len(rows) == 2 * 2 * 2 * 2
    first = rows[0]
    assert (first.family, first.method, first.kind, first.sigma, first.n) == (
        "ct",
        "noisy",
        "gaussian",
        10.0,
        2,
    )
    assert first.metrics["psnr"] == pytest.approx(30.0 - 2 + 2.5)  # crops at index 0 and 5
    assert [r.method for r in rows[:4]] == ["noisy"] * 4
    assert rows[-1].family == "dermoscopy"


def test_summary_averages_over_kinds_and_sigmas() -> None:
    summary = {(r.family, r.method): r for r in _result().summary()}
    ours = summary["dermoscopy", "ours"]
    assert ours.kind == "all"
    assert ours.sigma is None
    assert ours.n == 4
    assert ours.metrics["psnr"] == pytest.approx(40.0 - 6 + 0.5)  # mean of -2, -10; +0.5 speckle
    assert ours.seconds == pytest.approx(0.5)
    assert _result().counts("ct") == (1, 2)


def test_csv_has_one_row_per_group_and_the_five_metrics() -> None:
    text = format_csv(_result())
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == [
        "family",
        "method",
        "kind",
        "sigma",
        "psnr",
        "ssim",
        "delta_e",
        "vifp",
        "mse",
        "n",
    ]
    assert len(table) == 16
    assert table[0]["sigma"] == "10"
    assert table[0]["n"] == "2"
    assert float(table[0]["psnr"]) == pytest.approx(30.5)
    assert "seconds" not in text  # timings vary between runs; the CSV must not


def test_console_table_is_shaped_like_the_paper() -> None:
    text = format_table(_result())
    lines = text.splitlines()
    assert lines[0] == "ct (1 items, 2 crops): mean over noise kinds and sigmas"
    assert lines[1].split() == ["method", "PSNR", "SSIM", "DeltaE", "VIFP", "MSE", "s/crop"]
    ours = next(line for line in lines[2:4] if line.startswith("ours"))
    psnrs = [30.0 - s / 5 + i + k + 10 for s in (10, 50) for i in (0, 5) for k in (0, 1)]
    mse = f"{sum(1000 / p for p in psnrs) / len(psnrs):.2f}*"
    assert ours.split()[1:] == ["37.00*", "0.3700*", "3.000*", "0.7400*", mse, "0.500"]
    sub = lines.index("ct: PSNR (dB) by noise kind and sigma")
    assert lines[sub + 1].split() == ["method", "G10", "G50", "S10", "S50"]
    assert lines[sub + 2].split() == ["noisy", "30.50", "22.50", "31.50", "23.50"]
    assert "note: skipped bm3d: absent" in lines
    assert len({len(line) for line in lines[1:4]}) == 1  # aligned columns


def test_markdown_holds_the_same_tables_with_best_in_bold() -> None:
    text = format_markdown(_result())
    assert "## dermoscopy (1 items, 1 crops): mean over noise kinds and sigmas" in text
    assert "| method | PSNR | SSIM | DeltaE | VIFP | MSE | s/crop |" in text
    assert "| ours | **34.50** |" in text
    assert "| method | G10 | G50 | S10 | S50 |" in text
    assert text.count("\n## ") == 4


def test_write_report_is_atomic_and_refuses_to_overwrite(tmp_path: Path) -> None:
    result = _result()
    for name, render in (("r.csv", format_csv), ("r.md", format_markdown), ("r.txt", format_table)):
        written = write_report(result, tmp_path / name)
        assert written.read_text() == render(result)
    with pytest.raises(InputError, match="already exists"):
        write_report(result, tmp_path / "r.csv")
    write_report(result, tmp_path / "r.csv", overwrite=True)
    with pytest.raises(InputError, match=r"end in \.csv, \.md, \.txt"):
        write_report(result, tmp_path / "r.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.md", "r.txt"]
