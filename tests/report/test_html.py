from __future__ import annotations

import base64
import dataclasses
import io
import re
from datetime import datetime, timezone

import numpy as np
import pytest

from meddenoise.report import ItemSummary, ModelInfo, SeriesReport, render_report
from meddenoise.report.html import encode_png
from meddenoise.report.images import SlicePanel, Window
from meddenoise.report.noise import NoiseEstimate


def _report(name: str = "ct", *, panels: int = 2, **changes: object) -> SeriesReport:
    rng = np.random.default_rng(0)
    report = SeriesReport(
        name=name,
        output_name=f"{name}_out",
        description={"format": "dicom", "modality": "CT", "slices": "40"},
        window=Window(-160.0, 240.0, "CT soft tissue, W400/L40 (HU)"),
        difference_half_width=12.5,
        unit="HU",
        panels=[
            SlicePanel(
                k * 10,
                rng.integers(0, 256, (32, 48), dtype=np.uint8),
                rng.integers(0, 256, (32, 48), dtype=np.uint8),
                rng.integers(0, 256, (32, 48, 3), dtype=np.uint8),
            )
            for k in range(panels)
        ],
        noise_before=NoiseEstimate(20.0, 18.0),
        noise_after=NoiseEstimate(5.0, float("nan")),
        model_scale=4095.0,
        model=ModelInfo("model.pt", "two_stage", "0123456789ab"),
        parameters={"precision": "fp32"},
        seconds=3.25,
    )
    return dataclasses.replace(report, **changes)


def _images(page: str) -> list[np.ndarray]:
    from PIL import Image

    found = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(data)))) for data in found]


def test_page_is_self_contained_and_phone_ready() -> None:
    page = render_report([_report()], generated=datetime(2024, 5, 6, 7, 8, tzinfo=timezone.utc))
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "Generated 2024-05-06 07:08 UTC" in page
    assert "<script" not in page
    assert "<link" not in page
    assert "url(" not in page
    assert not re.search(r"(src|href)=\"(?!data:|#)", page)  # only data: URIs and anchors
    assert "@import" not in page


def test_panels_are_embedded_losslessly_with_alt_texts() -> None:
    report = _report()
    page = render_report([report])
    images = _images(page)
    assert len(images) == 6  # 2 slices x (before, after, difference)
    assert np.array_equal(images[0], report.panels[0].before)
    assert np.array_equal(images[5], report.panels[1].difference)
    alts = re.findall(r'alt="([^"]*)"', page)
    assert alts[0] == "Before (CT soft tissue, W400/L40 (HU)), slice 1 of 40"
    assert alts[5] == "Difference (after - before), slice 11 of 40"
    assert 'width="48" height="32"' in page


def test_numbers_shown() -> None:
    page = render_report([_report()])
    assert "-160 to 240 HU" in page
    assert "black -12.5, white +12.5 HU" in page
    assert "<td>model.pt (two_stage)</td>" in page
    assert "0123456789ab" in page
    assert '<td class="num">20</td><td class="num">5</td><td class="num">-75 %</td>' in page
    assert '<td class="num">18</td><td class="num">n/a</td><td class="num">n/a %</td>' in page
    assert "<th>seconds</th><td>3.25</td>" in page
    assert "Against the reference" not in page


def test_metrics_table_with_infinite_psnr() -> None:
    metrics = {
        "input": {"psnr": float("inf"), "ssim": 1.0, "delta_e": 0.0, "vifp": 1.0, "mse": 0.0},
        "output": {"psnr": 31.234567, "ssim": 0.9, "delta_e": 1.5, "vifp": 0.7, "mse": 4.9},
    }
    page = render_report([_report(metrics=metrics)])
    assert "Against the reference" in page
    assert '<td class="num">inf</td><td class="num">31.23</td>' in page


@pytest.mark.parametrize("field", ["name", "output_name"])
def test_text_from_files_is_escaped(field: str) -> None:
    hostile = '<img src=x onerror="alert(1)">&'
    page = render_report([_report(**{field: hostile})])
    assert hostile not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;" in page


def test_identity_is_shown_only_when_present() -> None:
    assert 'class="phi"' not in render_report([_report()])
    page = render_report([_report(identity={"Patient name": "A<b>", "Patient ID": ""})])
    assert '<p class="phi">Patient name: A&lt;b&gt;, Patient ID: -</p>' in page
    page = render_report([_report(identity={})])
    assert '<p class="phi">No patient data in this format.</p>' in page


def test_summary_table_links_to_sections() -> None:
    rows = [
        ItemSummary("a/ct", "done", 2.5, section=1),
        ItemSummary("b/bad.nii.gz", "failed", 0.1, "INPUT_DIR/b/bad.nii.gz: empty file"),
        ItemSummary("c.png", "done earlier", 1.0),
    ]
    page = render_report([_report("a/ct")], summary=rows)
    assert '<td><a href="#series-1">a/ct</a></td><td class="done">done</td>' in page
    assert '<td class="failed">failed</td>' in page
    assert "INPUT_DIR/b/bad.nii.gz: empty file" in page
    assert '<td>c.png</td><td class="done">done earlier</td>' in page
    assert 'id="series-1"' in page
    empty = render_report([], summary=rows[1:])
    assert "no series denoised by this run" in empty


def test_encode_png_round_trips_grey_and_colour() -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgb = np.stack([grey, grey + 1, grey + 2], axis=-1)
    for image in (grey, rgb):
        uri = encode_png(image)
        assert uri.startswith("data:image/png;base64,")
        assert np.array_equal(_images(f'src="{uri}"')[0], image)
