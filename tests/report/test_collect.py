from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from meddenoise.errors import InputError, ProcessingError
from meddenoise.report import ModelInfo, build_series_report, render_report
from tests.report.conftest import (
    EXAMPLES,
    SENTINEL_TEXTS,
    text_of,
    write_phi_ct,
    write_rgb_png,
    write_smoothed,
)

MODEL = ModelInfo("tiny.pt", "nen", "0123456789ab")


def test_ct_series_report(ct_pair: tuple[Path, Path]) -> None:
    source, output = ct_pair
    report = build_series_report(source, output, model=MODEL, parameters={"tile": 512}, seconds=1.5)
    assert report.name == "ct_noisy"
    assert report.output_name == "ct_smooth"
    assert report.unit == "HU"
    assert (report.window.low, report.window.high) == (-160.0, 240.0)
    assert [panel.index for panel in report.panels] == [0, 1, 2]
    for panel in report.panels:
        for image in (panel.before, panel.after, panel.difference):
            assert image.shape == (512, 512)
            assert image.dtype == np.uint8
            assert image.std() > 5  # not blank
    assert report.description["modality"] == "CT"
    assert report.description["slices"] == "3"
    assert report.description["size (rows x columns)"] == "512 x 512"
    assert report.description["pixel spacing (mm)"] == "0.4512 x 0.4512"
    assert report.description["slice spacing (mm)"] == "5"
    assert report.noise_before.wavelet == pytest.approx(20.0, rel=0.15)
    assert report.noise_before.flat == pytest.approx(20.0, rel=0.15)
    assert report.noise_after.wavelet < 0.3 * report.noise_before.wavelet
    assert report.noise_after.flat < 0.3 * report.noise_before.flat
    assert report.model_scale == 4095.0  # the CT mapping [-1024, 3071] HU
    assert report.parameters == {"tile": "512"}
    assert report.metrics is None
    assert report.identity is None


def test_a_reference_adds_metrics_of_input_and_output(ct_pair: tuple[Path, Path]) -> None:
    source, output = ct_pair
    report = build_series_report(source, output, model=MODEL, reference=source)
    assert report.metrics is not None
    assert set(report.metrics["input"]) == {"psnr", "ssim", "delta_e", "vifp", "mse"}
    assert report.metrics["input"]["psnr"] == math.inf  # the input is the reference
    assert report.metrics["input"]["mse"] == 0.0
    assert 30 < report.metrics["output"]["psnr"] < math.inf
    assert 0 < report.metrics["output"]["ssim"] < 1


def test_reference_or_output_of_another_shape_is_refused(
    ct_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    source, output = ct_pair
    with pytest.raises(ProcessingError, match="the reference has shape"):
        build_series_report(source, output, model=MODEL, reference=EXAMPLES / "cell.png")
    with pytest.raises(ProcessingError, match="the output has shape"):
        build_series_report(source, EXAMPLES / "cell.png", model=MODEL)
    with pytest.raises(InputError, match="no such file"):
        build_series_report(source, tmp_path / "missing.nii", model=MODEL)


def test_no_patient_data_without_include_phi(tmp_path: Path) -> None:
    source = write_phi_ct(tmp_path / "in" / "series")
    output = write_smoothed(source, tmp_path / "out")
    report = build_series_report(source, output, model=MODEL)
    page = text_of(render_report([report]))
    assert report.identity is None
    for text in SENTINEL_TEXTS:
        assert text.lower() not in page.lower(), text

    shown = build_series_report(source, output, model=MODEL, include_phi=True)
    assert shown.identity == {
        "Patient name": "Doe^Jane",
        "Patient ID": "PID-SENTINEL-123",
        "Series description": "SD-SENTINEL Jane Doe brain",
    }
    page = text_of(render_report([shown]))
    assert "Patient name: Doe^Jane" in page
    assert "Patient ID: PID-SENTINEL-123" in page
    # Birth date, accession number, institution: never, even with include_phi.
    for text in ("19010203", "ACC-SENTINEL", "Sentinel Hospital", "Referrer"):
        assert text not in page


def test_colour_image_is_shown_in_colour(tmp_path: Path) -> None:
    source = write_rgb_png(tmp_path / "card.png")
    output = write_smoothed(source, tmp_path / "card_out.png")
    report = build_series_report(source, output, model=MODEL, include_phi=True)
    assert report.unit == "stored units"
    assert "percentile" in report.window.label
    (panel,) = report.panels
    assert panel.before.shape == (120, 160, 3)
    assert panel.difference.shape == (120, 160, 3)
    # The ramp of the red channel survives: red rises from left to right.
    assert panel.before[:, -10:, 0].mean() > panel.before[:, :10, 0].mean() + 100
    assert report.identity == {}  # a PNG carries no patient data
    assert report.noise_after.wavelet < report.noise_before.wavelet


def test_mri_volume_chooses_three_slices_and_keeps_the_aspect(
    shared_data: Path, tmp_path: Path
) -> None:
    source = shared_data / "mri" / "aniso_vox.nii.gz"
    output = write_smoothed(source, tmp_path / "aniso_out.nii.gz")
    report = build_series_report(source, output, model=MODEL)
    from meddenoise.io import read_image

    image = read_image(source)
    assert image.geometry is not None
    row, col = image.geometry.pixel_spacing
    n, rows, cols = image.pixels.shape
    assert len(report.panels) == 3
    assert all(0 <= p.index < n for p in report.panels)
    height, width = report.panels[0].before.shape
    assert max(height, width) <= 512
    assert height / width == pytest.approx(rows * row / (cols * col), rel=0.02)


def test_large_images_are_downscaled(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    big = (rng.random((1200, 1600)) * 255).astype(np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png")
    output = write_smoothed(tmp_path / "big.png", tmp_path / "big_out.png")
    report = build_series_report(tmp_path / "big.png", output, model=MODEL)
    assert report.panels[0].before.shape == (384, 512)


def test_monochrome1_radiograph_is_shown_as_a_viewer_shows_it(
    shared_data: Path, tmp_path: Path
) -> None:
    from meddenoise.io import read_image

    source = shared_data / "xray" / "RG1_UNCR.dcm"
    output = write_smoothed(source, tmp_path / "xray_out")
    report = build_series_report(source, output, model=MODEL)
    image = read_image(source)
    assert image.photometric == "MONOCHROME1"
    (panel,) = report.panels
    assert panel.before.shape == (512, 482)  # 1955 x 1841, downscaled
    assert report.unit == "stored units"
    # Inverted: the panel falls where the stored values rise.
    from PIL import Image

    physical = image.physical()[0][::4, ::4]
    shown = Image.fromarray(panel.before).resize((physical.shape[1], physical.shape[0]))
    grey = np.asarray(shown, dtype=np.float64)
    assert grey.std() > 10
    assert np.corrcoef(physical.ravel(), grey.ravel())[0, 1] < -0.9
