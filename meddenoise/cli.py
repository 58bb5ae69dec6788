"""The ``meddenoise`` command line: a thin layer of click over the Python API.

Each command parses its options, makes one keyword call into the library and reports.
Heavy modules (torch, pydicom...) are imported inside the commands, so ``--help`` and
``--version`` start fast and ``import meddenoise.cli`` loads no torch.

Exit codes: 0 done, 1 processing failed, 2 bad usage or bad input.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from meddenoise._version import __version__
from meddenoise.errors import MeddenoiseError

#: Set to 1 to see the traceback of an unexpected error instead of a one-line message.
DEBUG_ENV = "MEDDENOISE_DEBUG"


class _Group(click.Group):
    """A click group that turns library errors into one-line messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except MeddenoiseError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as exc:
            if os.environ.get(DEBUG_ENV) == "1":
                raise
            _fail(
                f"internal error: {type(exc).__name__}: {exc} "
                f"(set {DEBUG_ENV}=1 for the traceback)",
                1,
            )


def _fail(message: str, code: int) -> None:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    click.echo(f"Error: {first}", err=True)
    sys.exit(code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="meddenoise")
def main() -> None:
    """Denoise CT, MRI, X-ray, dermoscopy and microscopy images with a two-stage network."""


@main.command("models")
@click.option(
    "--size",
    type=click.IntRange(1, 8192),
    default=256,
    show_default=True,
    help="Image side in pixels for the multiply-accumulate count.",
)
def models_command(size: int) -> None:
    """List the model architectures with their parameters and cost per image."""
    from meddenoise.models import available_models, build_model
    from meddenoise.models.summary import summarize_model

    click.echo(f"{'architecture':<12} {'parameters':>11} {'GMAC/image':>11}  ({size}x{size}x3)")
    for arch in available_models():
        total = summarize_model(build_model(arch), height=size, width=size)[-1]
        click.echo(f"{arch:<12} {total.parameters:>11,} {total.macs / 1e9:>11.2f}")


@main.command("info")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--series-uid", help="Which DICOM series, where INPUT holds several.")
@click.option("--modality", help="Modality for files that do not say (e.g. CT for NIfTI).")
def info_command(input_path: Path, series_uid: str | None, modality: str | None) -> None:
    """Read INPUT and describe it: format, modality, size, dtype, rescale, geometry.

    INPUT is a DICOM file, folder, zip file or DICOMDIR, a NIfTI, MetaImage, PNG, JPEG or
    TIFF file. Nothing identifying the patient is printed.
    """
    from meddenoise.io import read_image

    image = read_image(input_path, series_uid=series_uid, modality=modality)
    width = max(len(key) for key in image.describe())
    for key, value in image.describe().items():
        click.echo(f"{key:<{width}}  {value}")
    for warning in getattr(image.source, "warnings", []) or []:
        click.echo(f"warning: {warning}", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
