"""QA reports: before, after and difference images, noise, metrics and provenance.

``meddenoise denoise ... --report report.html`` and ``meddenoise batch ... --report``
write one self-contained HTML page (no script, no external resource) that shows, for
each series, a few representative slices before and after denoising and their
difference, a noise estimate before and after, the metrics against a reference where
one is given, the model (name, architecture, SHA-256) and the run's parameters and time.
Patient data appears only with ``include_phi``.

- :mod:`~meddenoise.report.images`: windows, slice choice, display panels (arrays only);
- :mod:`~meddenoise.report.noise`: the noise estimates;
- :mod:`~meddenoise.report.collect`: :func:`build_series_report` reads the files;
- :mod:`~meddenoise.report.html`: :func:`render_report` renders the page;
- :mod:`~meddenoise.report.write`: :func:`write_report` writes it atomically;
- :mod:`~meddenoise.report.batch`: :func:`write_batch_report` for a batch run.

Examples
--------
>>> import pathlib, tempfile
>>> import numpy as np
>>> from PIL import Image
>>> from meddenoise.api import denoise_file
>>> from meddenoise.checkpoint import save_checkpoint
>>> from meddenoise.models import build_model
>>> from meddenoise.report import build_series_report, write_report
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> _ = save_checkpoint(tmp / "tiny.pt", build_model("nen", depth=1))
>>> noisy = np.random.default_rng(0).integers(0, 256, (96, 80), dtype=np.uint8)
>>> Image.fromarray(noisy).save(tmp / "noisy.png")
>>> result = denoise_file(tmp / "noisy.png", tmp / "out.png", model=tmp / "tiny.pt", device="cpu")
>>> report = build_series_report(
...     tmp / "noisy.png", result.output, model=ModelInfo("tiny.pt", "nen", "0123456789ab")
... )
>>> [panel.before.shape for panel in report.panels], report.unit
([(96, 80)], 'stored units')
>>> path = write_report([report], tmp / "report.html")
>>> path.read_text().startswith("<!DOCTYPE html>")
True
"""

from meddenoise.report.batch import BatchReport, write_batch_report
from meddenoise.report.collect import ItemSummary, ModelInfo, SeriesReport, build_series_report
from meddenoise.report.html import render_report
from meddenoise.report.write import check_report_path, write_report

__all__ = [
    "BatchReport",
    "ItemSummary",
    "ModelInfo",
    "SeriesReport",
    "build_series_report",
    "check_report_path",
    "render_report",
    "write_batch_report",
    "write_report",
]
