"""What an evaluation measured: its aggregations, and the paper-style tables that show them.

:class:`EvaluationResult` holds one record per (crop, noise kind, sigma, method) and
averages them; the ``format_*`` functions render it as text (console), Markdown or CSV,
and :func:`write_report` writes one of those files atomically. Rendering is pure: it
takes a result and returns a string.

The tables follow the paper's Tables I-V: for each family, one row per method with the
five metrics averaged over every noise kind and sigma (and the mean time per crop), then
PSNR by noise kind and sigma. The CSV has one row per (family, method, kind, sigma) and
holds no timings, so two runs on the same data give identical bytes.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from meddenoise.errors import InputError
from meddenoise.metrics import METRICS
from meddenoise.train.split import FAMILIES

if TYPE_CHECKING:
    from meddenoise.evaluation.protocol import EvaluationConfig

__all__ = [
    "METRIC_LABELS",
    "EvaluationRecord",
    "EvaluationResult",
    "EvaluationRow",
    "format_csv",
    "format_markdown",
    "format_table",
    "write_report",
]

#: Column titles of the metrics, in the paper's order.
METRIC_LABELS: dict[str, str] = {
    "psnr": "PSNR",
    "ssim": "SSIM",
    "delta_e": "DeltaE",
    "vifp": "VIFP",
    "mse": "MSE",
}
_DECIMALS: dict[str, int] = {"psnr": 2, "ssim": 4, "delta_e": 3, "vifp": 4, "mse": 2}


@dataclass(frozen=True)
class EvaluationRecord:
    """The scores of one method on one noisy crop."""

    image: str
    slice: int
    family: str
    method: str
    kind: str
    sigma: float
    metrics: dict[str, float]
    seconds: float


@dataclass(frozen=True)
class EvaluationRow:
    """Mean scores of a group of records.

    ``kind`` is ``"all"`` and ``sigma`` is ``None`` in rows averaged over them; ``n``
    counts the crops (records) averaged; ``seconds`` is the mean time per crop.
    """

    family: str
    method: str
    kind: str
    sigma: float | None
    n: int
    metrics: dict[str, float]
    seconds: float


@dataclass(frozen=True)
class EvaluationResult:
    """Everything :func:`evaluate` measured, with its aggregations.

    Attributes
    ----------
    records : tuple of EvaluationRecord
        One per (crop, kind, sigma, method), in evaluation order.
    config : EvaluationConfig
        The options used.
    methods : tuple of str
        Method labels in table order: baselines, then models.
    notes : tuple of str
        Methods skipped and why; which checkpoint each model label is.
    """

    records: tuple[EvaluationRecord, ...]
    config: EvaluationConfig
    methods: tuple[str, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def families(self) -> tuple[str, ...]:
        """Families present: the paper's five in order, then others alphabetically."""
        present = {r.family for r in self.records}
        rank = {name: k for k, name in enumerate(FAMILIES)}
        return tuple(sorted(present, key=lambda f: (rank.get(f, len(rank)), f)))

    def counts(self, family: str) -> tuple[int, int]:
        """Return ``(items, crops)`` evaluated for ``family``."""
        crops = {(r.image, r.slice) for r in self.records if r.family == family}
        return len({name for name, _ in crops}), len(crops)

    def rows(self) -> list[EvaluationRow]:
        """Means per (family, method, kind, sigma), ordered as the tables are."""
        return self._group(lambda r: (r.family, r.method, r.kind, r.sigma))

    def summary(self) -> list[EvaluationRow]:
        """Means per (family, method) over every kind and sigma (the tables' main rows)."""
        return self._group(lambda r: (r.family, r.method, "all", None))

    def _group(
        self, key: Callable[[EvaluationRecord], tuple[str, str, str, float | None]]
    ) -> list[EvaluationRow]:
        groups: dict[tuple[str, str, str, float | None], list[EvaluationRecord]]
        groups = defaultdict(list)
        for record in self.records:
            groups[key(record)].append(record)
        order = {
            "family": {f: k for k, f in enumerate(self.families)},
            "method": {m: k for k, m in enumerate(self.methods)},
            "kind": {x: k for k, x in enumerate((*self.config.kinds, "all"))},
        }
        rows = [
            EvaluationRow(
                family=family,
                method=method,
                kind=kind,
                sigma=sigma,
                n=len(group),
                metrics={
                    m: float(np.mean([r.metrics[m] for r in group])) for m in group[0].metrics
                },
                seconds=float(np.mean([r.seconds for r in group])),
            )
            for (family, method, kind, sigma), group in groups.items()
        ]
        rows.sort(
            key=lambda r: (
                order["family"][r.family],
                order["method"][r.method],
                order["kind"][r.kind],
                -1.0 if r.sigma is None else r.sigma,
            )
        )
        return rows


Table = tuple[str, list[str], list[list[str]]]


def _tables(result: EvaluationResult) -> list[Table]:
    """Build each family's tables: (title, header, rows of cells), best cells marked."""
    summary = result.summary()
    rows = result.rows()
    cfg = result.config
    keys = [(kind, sigma) for kind in cfg.kinds for sigma in cfg.sigmas]
    tables: list[Table] = []
    for family in result.families:
        items, crops = result.counts(family)
        main = [r for r in summary if r.family == family]
        cells = [
            [
                r.method,
                *(f"{r.metrics[m]:.{_DECIMALS[m]}f}" for m in METRIC_LABELS),
                f"{r.seconds:.3f}",
            ]
            for r in main
        ]
        for col, metric in enumerate(METRIC_LABELS, start=1):
            _mark_best(cells, col, [r.metrics[metric] for r in main], METRICS[metric])
        title = f"{family} ({items} items, {crops} crops): mean over noise kinds and sigmas"
        header = ["method", *METRIC_LABELS.values(), "s/crop"]
        tables.append((title, header, cells))
        psnr = {(r.method, r.kind, r.sigma): r.metrics["psnr"] for r in rows if r.family == family}
        by_sigma = [[r.method, *(f"{psnr[r.method, k, s]:.2f}" for k, s in keys)] for r in main]
        for col, key in enumerate(keys, start=1):
            _mark_best(by_sigma, col, [psnr[r.method, key[0], key[1]] for r in main], True)
        sub_header = ["method", *(f"{kind[0].upper()}{sigma:g}" for kind, sigma in keys)]
        tables.append((f"{family}: PSNR (dB) by noise kind and sigma", sub_header, by_sigma))
    return tables


def _mark_best(cells: list[list[str]], col: int, values: list[float], higher: bool) -> None:
    finite = [v for v in values if not math.isnan(v)]
    if len(finite) < 2:
        return
    best = max(finite) if higher else min(finite)
    for row, value in zip(cells, values, strict=True):
        if value == best:
            row[col] += "*"


def _legend(result: EvaluationResult) -> list[str]:
    kinds = ", ".join(f"{k[0].upper()} = {k}" for k in result.config.kinds)
    cfg = result.config
    crop = f"centre {cfg.crop}x{cfg.crop} crops" if cfg.crop is not None else "whole slices"
    lines = [
        f"* best in its column; {kinds}; sigma on the 0..255 scale",
        f"protocol: seed {cfg.seed}, {crop}, at most {cfg.max_slices} slices per item",
    ]
    return lines + [f"note: {note}" for note in result.notes]


def format_table(result: EvaluationResult) -> str:
    """Render the tables as fixed-width text for a terminal."""
    out: list[str] = []
    for title, header, cells in _tables(result):
        widths = [max(len(row[c]) for row in [header, *cells]) for c in range(len(header))]
        line = "  ".join
        out += [
            "",
            title,
            line(
                h.rjust(w) if c else h.ljust(w)
                for c, (h, w) in enumerate(zip(header, widths, strict=True))
            ),
        ]
        out += [
            line(
                v.rjust(w) if c else v.ljust(w)
                for c, (v, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in cells
        ]
    return "\n".join([*out[1:], "", *_legend(result)]) + "\n"


def format_markdown(result: EvaluationResult) -> str:
    """Render the same tables as :func:`format_table` in Markdown (best cells in bold)."""
    out = ["# Evaluation", ""]
    for title, header, cells in _tables(result):
        out += [f"## {title}", "", "| " + " | ".join(header) + " |"]
        out.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for row in cells:
            shown = [f"**{v[:-1]}**" if v.endswith("*") else v for v in row]
            out.append("| " + " | ".join(shown) + " |")
        out.append("")
    legend = _legend(result)
    items = ["Bold: " + legend[0][2:], *legend[1:]]
    return "\n".join([*out, *(f"- {item}" for item in items)]) + "\n"


def format_csv(result: EvaluationResult) -> str:
    """One row per (family, method, kind, sigma): the five metric means and ``n``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["family", "method", "kind", "sigma", *METRIC_LABELS, "n"])
    for r in result.rows():
        sigma = "" if r.sigma is None else f"{r.sigma:g}"
        values = [f"{r.metrics[m]:.6f}" for m in METRIC_LABELS]
        writer.writerow([r.family, r.method, r.kind, sigma, *values, r.n])
    return buffer.getvalue()


_FORMATS: dict[str, Callable[[EvaluationResult], str]] = {
    ".csv": format_csv,
    ".md": format_markdown,
    ".txt": format_table,
}


def write_report(
    result: EvaluationResult, path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write the CSV (``.csv``), Markdown (``.md``) or text (``.txt``) report atomically.

    Raises
    ------
    InputError
        For another suffix, or an existing file without ``overwrite``.
    """
    from meddenoise.io.atomic import atomic_output

    target = Path(path)
    render = _FORMATS.get(target.suffix.lower())
    if render is None:
        raise InputError(f"{target}: report files end in {', '.join(_FORMATS)}")
    text = render(result)
    with atomic_output(target, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target
