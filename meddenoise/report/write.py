"""Check where a QA report goes, and write it atomically."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from meddenoise.errors import InputError
from meddenoise.report.collect import ItemSummary, SeriesReport

__all__ = ["check_report_path", "write_report"]

#: Suffixes a report may have (so that a slip cannot overwrite an image).
SUFFIXES = (".html", ".htm")


def check_report_path(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
    outputs: Iterable[str | os.PathLike[str]] = (),
    folder_made_later: bool = False,
) -> Path:
    """Validate a report path before any work.

    Parameters
    ----------
    path : path-like
        The ``.html`` file to write.
    overwrite : bool
        Allow replacing an existing report.
    inputs, outputs : iterable of path-like
        Files or folders read and written by the run: the report may be none of them and
        lie inside none of them.
    folder_made_later : bool
        The report's folder may be missing (a batch creates its output folder).

    Returns
    -------
    Path
        The absolute report path.

    Raises
    ------
    InputError
        For another suffix than ``.html``/``.htm``, a path that is or lies inside an
        input or output, an existing file without ``overwrite``, or a missing folder.
    """
    from meddenoise.io.atomic import check_output_path

    out = Path(path).expanduser().absolute()
    if out.suffix.lower() not in SUFFIXES:
        raise InputError(f"{out}: a report must be an .html file")
    for kind, paths in (("input", inputs), ("output", outputs)):
        for other in paths:
            there = Path(other).expanduser().absolute()
            real, real_there = out.resolve(), there.resolve()
            if real == real_there or real_there in real.parents or _same_file(out, there):
                raise InputError(f"{out}: the report may not be or lie inside the {kind} {there}")
    if folder_made_later and not out.parent.exists():
        return out
    return check_output_path(out, overwrite=overwrite)


def write_report(
    reports: Sequence[SeriesReport],
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    summary: Sequence[ItemSummary] | None = None,
    title: str = "meddenoise QA report",
) -> Path:
    """Render reports to one HTML file, written under a temporary name and renamed.

    Parameters
    ----------
    reports : sequence of SeriesReport
        From :func:`~meddenoise.report.collect.build_series_report`.
    path : path-like
        The ``.html`` file.
    overwrite : bool
        Replace an existing file.
    summary : sequence of ItemSummary, optional
        A batch's table of items.
    title : str
        Page title.

    Returns
    -------
    Path
        The file written.
    """
    from meddenoise.io.atomic import atomic_output
    from meddenoise.report.html import render_report

    out = check_report_path(path, overwrite=overwrite)
    page = render_report(reports, summary=summary, title=title)
    with atomic_output(out, overwrite=overwrite) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
