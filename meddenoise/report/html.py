"""Render QA reports to one self-contained HTML page.

The page has inline CSS only, no script, no font or image from elsewhere: panels are
``data:image/png;base64`` URIs. A CSS grid puts before, after and difference side by side
on a wide screen and stacks them on a phone; wide tables scroll inside their box. Every
text from a file or an option goes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape

import numpy as np

from meddenoise._version import __version__
from meddenoise.metrics import METRICS
from meddenoise.report.collect import ItemSummary, SeriesReport
from meddenoise.report.images import SlicePanel

__all__ = ["encode_png", "render_report"]

#: Metric labels, in the paper's order.
METRIC_LABELS = {
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "delta_e": "DeltaE",
    "vifp": "VIFP",
    "mse": "MSE",
}

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1680px; padding: 0 12px 24px;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1b1b1b; background: #fff; overflow-wrap: break-word; }
h1 { font-size: 1.5rem; margin: 16px 0 4px; }
h2 { font-size: 1.2rem; margin: 0 0 8px; }
h3 { font-size: 1rem; margin: 12px 0 4px; }
.meta { color: #555; margin: 0 0 12px; }
section.series { border-top: 2px solid #ccc; padding-top: 12px; margin-top: 20px; }
.phi { background: #fff3cd; border: 1px solid #e0c068; padding: 6px 10px; }
.facts { display: grid; gap: 12px;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 300px), 1fr)); }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 4px 0; }
th, td { text-align: left; padding: 3px 10px 3px 0; border-bottom: 1px solid #e2e2e2;
  vertical-align: top; }
td { overflow-wrap: anywhere; } th.sub { font-weight: normal; color: #555; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.trio { display: grid; gap: 8px; margin: 4px 0 14px;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 260px), 1fr)); }
figure { margin: 0; }
.trio img { display: block; width: 100%; height: auto; background: #000; }
figcaption { font-size: 0.9rem; color: #444; }
.done { color: #17692b; } .failed { color: #a4161a; font-weight: 600; }
"""


def encode_png(image: np.ndarray) -> str:
    """Return an 8-bit ``(h, w)`` or ``(h, w, 3)`` image as a ``data:image/png`` URI."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def render_report(
    reports: Sequence[SeriesReport],
    *,
    summary: Sequence[ItemSummary] | None = None,
    title: str = "meddenoise QA report",
    generated: datetime | None = None,
) -> str:
    """Render series reports (and a batch summary table) to one HTML page.

    Parameters
    ----------
    reports : sequence of SeriesReport
        One section each, in order.
    summary : sequence of ItemSummary, optional
        A table of every item of a batch with its status (and one-line error).
    title : str
        Page title and heading.
    generated : datetime, optional
        Time shown as the generation time (default: now, UTC).

    Returns
    -------
    str
        The complete page.
    """
    when = (generated or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M %Z").strip()
    count = f"{len(reports)} series" if reports else "no series denoised by this run"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{escape(title)}</h1>",
        f'<p class="meta">Generated {escape(when)} by meddenoise {escape(__version__)}; '
        f"{count}.</p></header><main>",
    ]
    if summary is not None:
        parts.append(_summary(summary))
    parts.extend(_section(number, report) for number, report in enumerate(reports, 1))
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _summary(rows: Sequence[ItemSummary]) -> str:
    body = "".join(
        f"<tr><td>{_item(row)}</td>"
        f'<td class="{escape(row.status.split()[0])}">{escape(row.status)}</td>'
        f'<td class="num">{_num(row.seconds, ".1f")}</td>'
        f"<td>{escape(row.error or '')}</td></tr>"
        for row in rows
    )
    return (
        '<section><h2>Items</h2><div class="scroll"><table><thead><tr><th>item</th>'
        "<th>status</th><th>seconds</th><th>error</th></tr></thead>"
        f"<tbody>{body}</tbody></table></div></section>"
    )


def _item(row: ItemSummary) -> str:
    if row.section is None:
        return escape(row.key)
    return f'<a href="#series-{row.section}">{escape(row.key)}</a>'


def _section(number: int, report: SeriesReport) -> str:
    parts = [f'<section class="series" id="series-{number}">']
    parts.append(f"<h2>{number}. {escape(report.name)}</h2>")
    if report.identity is not None:
        shown = ", ".join(
            f"{escape(label)}: {escape(value or '-')}" for label, value in report.identity.items()
        )
        parts.append(f'<p class="phi">{shown or "No patient data in this format."}</p>')
    facts = {"output": report.output_name, **report.description}
    run = {
        "model": f"{report.model.name} ({report.model.arch})",
        "model sha256": report.model.sha256,
        **report.parameters,
        "seconds": _num(report.seconds, ".2f"),
    }
    parts.append('<div class="facts">')
    parts.append(_table("Series", facts))
    parts.append(_table("Run", run))
    parts.append(_noise(report))
    if report.metrics is not None:
        parts.append(_metrics(report.metrics))
    parts.append("</div>")
    parts.append(
        f'<p class="meta">Window: {escape(report.window.label)}, '
        f"{report.window.low:.4g} to {report.window.high:.4g} {escape(report.unit)}, the same "
        f"for before and after. Difference = after - before: mid-grey 0, black "
        f"-{report.difference_half_width:.3g}, white +{report.difference_half_width:.3g} "
        f"{escape(report.unit)} (99th percentile of |difference|).</p>"
    )
    total = report.description.get("slices", "?")
    parts.extend(_panel(panel, total, report.window.label) for panel in report.panels)
    parts.append("</section>")
    return "\n".join(parts)


def _table(title: str, rows: dict[str, str]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows.items())
    return f'<div><h3>{escape(title)}</h3><div class="scroll"><table>{body}</table></div></div>'


def _noise(report: SeriesReport) -> str:
    unit = escape(report.unit)
    scale = 255.0 / report.model_scale
    rows = []
    for label, before, after in (
        ("wavelet (MAD)", report.noise_before.wavelet, report.noise_after.wavelet),
        ("flat regions", report.noise_before.flat, report.noise_after.flat),
    ):
        change = (after / before - 1.0) * 100.0 if before > 0 else math.nan
        rows.append(
            f'<tr><th>{label}, {unit}</th><td class="num">{_num(before, ".3g")}</td>'
            f'<td class="num">{_num(after, ".3g")}</td>'
            f'<td class="num">{_num(change, "+.0f")} %</td></tr>'
            f'<tr><th class="sub">{label}, 0-255 model scale</th>'
            f'<td class="num">{_num(before * scale, ".3g")}</td>'
            f'<td class="num">{_num(after * scale, ".3g")}</td><td></td></tr>'
        )
    return (
        '<div><h3>Noise sigma</h3><div class="scroll"><table><tr><th></th><th>before</th>'
        f"<th>after</th><th>change</th></tr>{''.join(rows)}</table></div></div>"
    )


def _metrics(metrics: dict[str, dict[str, float]]) -> str:
    rows = "".join(
        f"<tr><th>{METRIC_LABELS[name]} {'(higher is better)' if up else '(lower is better)'}"
        f'</th><td class="num">{_num(metrics["input"][name], ".4g")}</td>'
        f'<td class="num">{_num(metrics["output"][name], ".4g")}</td></tr>'
        for name, up in METRICS.items()
    )
    return (
        '<div><h3>Against the reference</h3><div class="scroll"><table><tr><th></th>'
        f"<th>input</th><th>output</th></tr>{rows}</table></div>"
        '<p class="meta">Model [0, 1] scale, mean over the slices shown.</p></div>'
    )


def _panel(panel: SlicePanel, total: str, window: str) -> str:
    where = f"slice {panel.index + 1} of {escape(total)}"
    figures = "".join(
        f'<figure><img src="{encode_png(image)}" width="{image.shape[1]}" '
        f'height="{image.shape[0]}" alt="{escape(what)}, {where}">'
        f"<figcaption>{escape(what)}</figcaption></figure>"
        for what, image in (
            (f"Before ({window})", panel.before),
            ("After (same window)", panel.after),
            ("Difference (after - before)", panel.difference),
        )
    )
    return f'<h3>{where[0].upper()}{where[1:]}</h3><div class="trio">{figures}</div>'


def _num(value: float | None, spec: str) -> str:
    if value is None or not math.isfinite(value):
        return "inf" if value is not None and value == math.inf else "n/a"
    return format(value, spec)
