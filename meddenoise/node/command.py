"""The ``meddenoise serve`` command: run the DICOM node until SIGTERM or Ctrl-C.

Only click and the standard library are imported here; torch, pydicom and pynetdicom
load when the node starts. Bad options raise :class:`~meddenoise.errors.InputError`,
which the ``meddenoise`` command group prints on one line with exit code 2;
``python -m meddenoise.node`` does the same through :func:`main`.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

import click

from meddenoise.cli_options import inference_options

__all__ = ["default_storage", "main", "serve_command"]


def default_storage() -> Path:
    """Return the default spool folder: ``$XDG_DATA_HOME/meddenoise/node``."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "meddenoise" / "node"


def _configure_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    # the node's messages and those of the readers and writers it calls
    package = logging.getLogger("meddenoise")
    package.addHandler(handler)
    package.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Other libraries' warnings may quote attribute values: the worker logs those of
    # the series it processes without their text; drop the rest.
    logging.captureWarnings(True)
    captured = logging.getLogger("py.warnings")
    captured.addHandler(logging.NullHandler())
    captured.propagate = False
    if verbose >= 2:
        # pynetdicom's own messages; at DEBUG they may show dataset content.
        network = logging.getLogger("pynetdicom")
        network.addHandler(handler)
        network.setLevel(logging.DEBUG if verbose >= 3 else logging.INFO)


def _titles(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


@click.command("serve")
@click.option("--ae-title", default="MEDDENOISE", show_default=True, help="The node's AE title.")
@click.option(
    "--host",
    default="0.0.0.0",
    show_default=True,
    help="Address to listen on (127.0.0.1: this machine only).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=11112,
    show_default=True,
    help="DICOM port to listen on (0: any free port, logged at start-up).",
)
@click.option(
    "--forward",
    "forward",
    multiple=True,
    metavar="HOST:PORT:AET",
    help="Storage SCP that derived series are sent to (repeatable).",
)
@click.option("--stow-url", help="DICOMweb root that derived series are also sent to (STOW-RS).")
@click.option(
    "--allow-calling",
    multiple=True,
    metavar="AET,...",
    help="Calling AE titles allowed to store (repeatable or comma-separated); "
    "default: any (a warning is logged).",
)
@click.option(
    "--storage",
    type=click.Path(path_type=Path, file_okay=False),
    help="Spool folder (default: $XDG_DATA_HOME/meddenoise/node).",
)
@click.option(
    "--stable-seconds",
    type=click.FloatRange(0),
    default=10.0,
    show_default=True,
    help="A series is processed after its associations ended and nothing new came for this long.",
)
@click.option(
    "--retry-initial",
    type=click.FloatRange(0),
    default=5.0,
    show_default=True,
    help="Seconds before the first retry of a failed forwarding; doubles each time.",
)
@click.option(
    "--retry-max",
    type=click.FloatRange(0),
    default=600.0,
    show_default=True,
    help="Longest wait between two retries.",
)
@inference_options
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    default=30.0,
    show_default=True,
    help="Seconds to wait for a destination or a sender.",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="-v: debug messages; -vv: also pynetdicom's (-vvv may show patient data).",
)
def serve_command(
    ae_title: str,
    host: str,
    port: int,
    forward: tuple[str, ...],
    stow_url: str | None,
    allow_calling: tuple[str, ...],
    storage: Path | None,
    stable_seconds: float,
    retry_initial: float,
    retry_max: float,
    model: str,
    device: str,
    precision: str,
    tile: int,
    threads: int | None,
    timeout: float,
    verbose: int,
) -> None:
    """Run a DICOM node: receive series, denoise them, send the derived series on.

    A storage SCP (C-STORE, C-ECHO) keeps every instance in the spool folder until the
    derived series has reached every --forward destination (and --stow-url); a restart
    resumes where it stopped. Stops cleanly on SIGTERM or Ctrl-C. See docs/deploy.md.
    """
    from meddenoise.node.config import NodeConfig, parse_destination
    from meddenoise.node.service import run_node

    config = NodeConfig(
        storage=storage or default_storage(),
        forward=tuple(parse_destination(text) for text in forward),
        stow_url=stow_url,
        ae_title=ae_title,
        host=host,
        port=port,
        allow_calling=_titles(allow_calling),
        stable_seconds=stable_seconds,
        retry_initial=retry_initial,
        retry_max=retry_max,
        model=model,
        device=device,
        precision=precision,
        tile=tile,
        threads=threads,
        timeout=timeout,
    )
    _configure_logging(verbose)
    # pynetdicom streams each incoming dataset to a temporary file: keep those in the
    # spool, so that moving them into place is a rename on the same file system.
    tempfile.tempdir = str(config.storage.expanduser().absolute() / "tmp")
    run_node(config)


def main() -> None:
    """Run :func:`serve_command` on its own, with the CLI's one-line errors and exit codes."""
    from meddenoise.errors import MeddenoiseError

    try:
        serve_command.main(prog_name="python -m meddenoise.node", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(130)
    except MeddenoiseError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "failed"
        click.echo(f"Error: {first}", err=True)
        sys.exit(exc.exit_code)
