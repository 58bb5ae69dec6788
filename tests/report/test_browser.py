"""The report in a real browser: Debian's headless Chromium, driven over DevTools.

Skipped only where no Chromium binary is installed (CI installs Debian's ``chromium``).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest

from meddenoise.report import ItemSummary, ModelInfo, build_series_report, write_report
from tests.report.chromium import PageReport, find_chromium, inspect_page
from tests.report.conftest import EXAMPLES, write_rgb_png, write_smoothed

MODEL = ModelInfo("tiny.pt", "nen", "0123456789ab")
PHONE = (390, 844)
WIDE = (1600, 1000)


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium)")
    return binary


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory, ct_pair: tuple[Path, Path]) -> Path:
    """A report of a CT series (3 slices), a tall grey image and a colour image."""
    root = tmp_path_factory.mktemp("browser")
    card = write_rgb_png(root / "card.png")
    pairs = [
        ct_pair,
        (EXAMPLES / "cell.png", write_smoothed(EXAMPLES / "cell.png", root / "cell_out.png")),
        (card, write_smoothed(card, root / "card_out.png")),
    ]
    reports = [build_series_report(src, out, model=MODEL, seconds=1.0) for src, out in pairs]
    summary = [
        ItemSummary("ct_noisy", "done", 1.0, section=1),
        ItemSummary(
            "a/very/long/path/without/any/space/" * 4 + "scan.nii.gz",
            "failed",
            0.5,
            "INPUT_DIR/" + "x" * 150 + ": unknown file type (not DICOM, NIfTI, MetaImage)",
        ),
    ]
    return write_report(reports, root / "report.html", summary=summary)


def _load(chromium: str, page: Path, tmp_path: Path, size: tuple[int, int]) -> PageReport:
    return inspect_page(chromium, page, tmp_path / "profile", width=size[0], height=size[1])


def _screenshot(report: PageReport) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(report.screenshot)).convert("L"), dtype=np.float64)


@pytest.mark.parametrize("size", [PHONE, WIDE], ids=["phone", "wide"])
def test_report_renders_without_errors(
    chromium: str, report_page: Path, tmp_path: Path, size: tuple[int, int]
) -> None:
    report = _load(chromium, report_page, tmp_path, size)
    (tmp_path / "screenshot.png").write_bytes(report.screenshot)

    assert report.problems == []
    assert report.scripts == 0
    assert report.requests[0] == report_page.resolve().as_uri()
    assert all(url.startswith("data:image/png;base64,") for url in report.requests[1:])

    # Every image decoded, at its natural size (no panel above 512 pixels).
    assert len(report.images) == (3 + 1 + 1) * 3
    for image in report.images:
        assert image["complete"], image["alt"]
        assert 0 < image["naturalWidth"] <= 512, image["alt"]
        assert image["width"] > 100, image["alt"]

    # Laid out for the width: the viewport meta tag holds on a phone, nothing overflows.
    assert report.inner_width == size[0]
    assert report.scroll_width <= report.client_width
    before, after, difference = report.images[:3]
    if size == PHONE:
        assert before["x"] == after["x"] == difference["x"]
        assert before["y"] < after["y"] < difference["y"]
    else:
        assert before["y"] == after["y"] == difference["y"]
        assert before["x"] < after["x"] < difference["x"]

    # The screenshot shows the page, and every image on it shows a picture.
    shot = _screenshot(report)
    assert shot.std() > 30
    assert np.mean(shot < 200) > 0.2
    for image in report.images:
        x, y = round(image["x"]), round(image["y"])
        crop = shot[y + 2 : y + round(image["height"]) - 2, x + 2 : x + round(image["width"]) - 2]
        assert crop.size > 10_000, image["alt"]
        assert crop.std() > 3, image["alt"]


def test_the_checks_catch_a_broken_page(chromium: str, report_page: Path, tmp_path: Path) -> None:
    page = report_page.read_text(encoding="utf-8")
    # A damaged image, a script error, a remote resource, a too-wide block.
    page = re.sub(r"base64,iVBOR[A-Za-z0-9+/]{40}", "base64,AAAA" + "A" * 40, page, count=1)
    page = page.replace(
        "</main>",
        '<script>console.error("boom")</script><img src="http://127.0.0.1:9/x.png" alt="">'
        '<div style="width:2000px">wide</div></main>',
    )
    broken = tmp_path / "broken.html"
    broken.write_text(page, encoding="utf-8")
    report = _load(chromium, broken, tmp_path, PHONE)

    assert report.images[0]["naturalWidth"] == 0
    assert all(image["naturalWidth"] > 0 for image in report.images[1:-1])
    assert "console.error: boom" in report.problems
    assert "request: http://127.0.0.1:9/x.png" in report.problems
    assert report.scripts == 1
    assert report.scroll_width > report.client_width
