"""Progress reporting for the command line: a rich bar on a terminal, plain lines elsewhere.

The library reports progress through a ``progress(done, total)`` callback; this module
turns that into something a person reads. It is only imported by the CLI.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

__all__ = ["progress_reporter"]


@contextmanager
def progress_reporter(
    label: str, *, unit: str = "tiles", quiet: bool = False
) -> Iterator[Callable[[int, int], None]]:
    """Yield a ``progress(done, total)`` callback that draws progress on stderr.

    On a terminal: a rich progress bar with the rate and the time left. Elsewhere (a
    pipe, a log file, CI): a plain line at every tenth of the work. ``quiet`` draws
    nothing.
    """
    if quiet:
        yield lambda done, total: None
        return
    if sys.stderr.isatty():
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task(label, total=None, rate="")
            start = time.perf_counter()

            def update(done: int, total: int) -> None:
                rate = done / max(time.perf_counter() - start, 1e-9)
                bar.update(task, completed=done, total=total, rate=f"{rate:.2f}/s")

            yield update
        return
    start = time.perf_counter()
    last = [-1]

    def plain(done: int, total: int) -> None:
        step = done * 10 // max(total, 1)
        if step != last[0] or done == total:
            last[0] = step
            rate = done / max(time.perf_counter() - start, 1e-9)
            click.echo(f"{label}: {done}/{total} {unit} ({rate:.2f}/s)", err=True)

    yield plain
