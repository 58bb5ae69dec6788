"""Command-line options shared by the commands that run the model (denoise, batch, serve).

One declaration, so that ``--model``, ``--device``, ``--precision``, ``--tile`` and
``--threads`` mean the same and read the same in every command's ``--help``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["inference_options"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    click.option(
        "--model", default="default", show_default=True, help="'default' or a checkpoint file."
    ),
    click.option(
        "--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N, mps."
    ),
    click.option(
        "--precision",
        type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
        default="auto",
        show_default=True,
        help="Arithmetic of the model (auto: fp32 until bf16 is validated).",
    ),
    click.option(
        "--tile",
        type=click.IntRange(16, 16384),
        default=512,
        show_default=True,
        help="Largest tile side; the result does not depend on it.",
    ),
    click.option(
        "--threads",
        type=click.IntRange(1, 1024),
        help="CPU threads for torch (default: all cores).",
    ),
)


def inference_options(func: F) -> F:
    """Add ``--model --device --precision --tile --threads`` to a click command.

    Examples
    --------
    >>> @click.command()
    ... @inference_options
    ... def run(model, device, precision, tile, threads):
    ...     pass
    >>> [p.name for p in run.params]
    ['model', 'device', 'precision', 'tile', 'threads']
    """
    for option in reversed(_OPTIONS):
        func = option(func)
    return func
