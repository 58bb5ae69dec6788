"""The QA report of a batch run: a section per item it denoised and a table of all items.

The table lists every item of the manifest with its latest status (``done earlier`` for
an item finished by an earlier run, ``not run`` for one left by ``--fail-fast``) and the
one-line error of a failed item, with the input and output folders written as
``INPUT_DIR`` and ``OUTPUT`` (no absolute path enters the report).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from meddenoise.report.collect import ItemSummary, ModelInfo, SeriesReport, build_series_report
from meddenoise.report.write import write_report

if TYPE_CHECKING:
    from meddenoise.api import LoadedModel
    from meddenoise.batch.discover import BatchItem
    from meddenoise.batch.runner import BatchOptions, BatchSummary, Outcome

__all__ = ["BatchReport", "write_batch_report"]


@dataclass(frozen=True)
class BatchReport:
    """What :func:`write_batch_report` wrote.

    Attributes
    ----------
    path : Path
        The HTML file.
    sections : int
        Items shown with images.
    missing : list of tuple of str
        ``(key, error)`` of done items whose section could not be made.
    """

    path: Path
    sections: int
    missing: list[tuple[str, str]] = field(default_factory=list)


def write_batch_report(
    path: str | os.PathLike[str],
    *,
    input_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    summary: BatchSummary,
    processed: Sequence[tuple[BatchItem, Outcome]],
    model: ModelInfo | LoadedModel,
    options: BatchOptions,
    include_phi: bool = False,
) -> BatchReport:
    """Write (or rewrite) the report of a batch run.

    Parameters
    ----------
    path : path-like
        The ``.html`` file; replaced if it exists (each run rewrites it).
    input_dir, output_dir : path-like
        The run's folders.
    summary : BatchSummary
        What :func:`meddenoise.batch.run_batch` returned (its manifest gives the table).
    processed : sequence of tuple
        ``(item, outcome)`` of each item this run processed (``on_item``'s arguments).
    model : ModelInfo or LoadedModel
        The model of the run.
    options : BatchOptions
        The run's options (shown as parameters; format and modality locate the outputs).
    include_phi : bool
        Show patient name, ID and series description in each section.

    Returns
    -------
    BatchReport
    """
    from meddenoise.batch.discover import output_name

    src = Path(input_dir).expanduser().absolute()
    out = Path(output_dir).expanduser().absolute()
    info = model if isinstance(model, ModelInfo) else ModelInfo.from_loaded(model)
    parameters = {
        "device": options.device,
        "precision": options.precision,
        "tile": options.tile,
        "output format": options.output_format or "as input",
    }
    if options.modality:
        parameters["modality hint"] = options.modality
    reports: list[SeriesReport] = []
    sections: dict[str, int] = {}
    missing: list[tuple[str, str]] = []
    for item, outcome in processed:
        if outcome.status != "done":
            continue
        try:
            report = build_series_report(
                src / item.source,
                out / output_name(item, options.output_format),
                model=info,
                parameters=parameters,
                seconds=outcome.seconds,
                series_uid=item.series_uid,
                modality=options.modality,
                include_phi=include_phi,
                name=item.label or item.key,
            )
        except Exception as exc:  # one item's section must not cost the others theirs
            missing.append((item.key, _redact(_line(exc), src, out)))
            continue
        reports.append(report)
        sections[item.key] = len(reports)
    rows = _rows(summary.manifest, {item.key for item, _ in processed}, sections, src, out)
    target = Path(path).expanduser().absolute()
    if out in target.parents:  # a sub-folder of the output folder is made like the outputs
        target.parent.mkdir(parents=True, exist_ok=True)
    written = write_report(
        reports, target, overwrite=True, summary=rows, title="meddenoise batch QA report"
    )
    return BatchReport(written, len(reports), missing)


def _rows(
    manifest: Path, this_run: set[str], sections: dict[str, int], src: Path, out: Path
) -> list[ItemSummary]:
    from meddenoise.batch.manifest import Manifest

    with Manifest(manifest) as records:
        latest = records.latest()
    rows = []
    for key in sorted(latest):
        record = latest[key]
        status = {"started": "not run"}.get(record.status, record.status)
        if status == "done" and key not in this_run:
            status = "done earlier"
        error = None
        if record.status == "failed":
            error = _redact(record.error or "failed", src, out)
        rows.append(ItemSummary(key, status, record.seconds, error, sections.get(key)))
    return rows


def _redact(text: str, src: Path, out: Path) -> str:
    """Write the run's folders as INPUT_DIR and OUTPUT (longest path first)."""
    names = {str(src): "INPUT_DIR", str(src.resolve()): "INPUT_DIR"}
    names.update({str(out): "OUTPUT", str(out.resolve()): "OUTPUT"})
    for folder in sorted(names, key=len, reverse=True):
        text = text.replace(folder, names[folder])
    return text


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
