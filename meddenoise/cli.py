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


_FORMATS = ("dicom", "nifti", "metaimage", "png", "jpeg", "tiff")


@main.command("denoise")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "output_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Output file, or folder for a DICOM series.",
)
@click.option(
    "--model", default="default", show_default=True, help="'default' or a checkpoint file."
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N, mps.")
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
    default="auto",
    show_default=True,
    help="Arithmetic of the model (auto: fp32 until bf16 is validated).",
)
@click.option(
    "--tile",
    type=click.IntRange(16, 16384),
    default=512,
    show_default=True,
    help="Largest tile side; the result does not depend on it.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 4096),
    help="Tiles per pass (default: 1 on a CPU, 4 on a GPU).",
)
@click.option(
    "--threads", type=click.IntRange(1, 1024), help="CPU threads for torch (default: all cores)."
)
@click.option("--modality", help="Modality for files that do not say (e.g. CT for NIfTI).")
@click.option("--series-uid", help="Which DICOM series, where INPUT holds several.")
@click.option(
    "--output-format",
    type=click.Choice(_FORMATS),
    help="Format to write (default: from the output's suffix; none = DICOM series).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no closing line.")
@click.option("-v", "--verbose", count=True, help="More detail (model, precision, clipping).")
def denoise_command(
    input_path: Path,
    output_path: Path,
    model: str,
    device: str,
    precision: str,
    tile: int,
    batch_size: int | None,
    threads: int | None,
    modality: str | None,
    series_uid: str | None,
    output_format: str | None,
    overwrite: bool,
    quiet: bool,
    verbose: int,
) -> None:
    """Denoise INPUT and write OUTPUT with the same intensities, dtype and metadata.

    INPUT is a DICOM file, folder, zip file or DICOMDIR, a NIfTI, MetaImage, PNG, JPEG
    or TIFF file. A DICOM series is written as a derived series of the same study.
    """
    import torch

    from meddenoise.api import denoise_file, load_model
    from meddenoise.console import progress_reporter

    torch.set_num_threads(threads or os.cpu_count() or 1)
    loaded = load_model(model, device=device)
    if verbose:
        click.echo(
            f"model {loaded.name} ({loaded.arch}, sha256 {loaded.short_hash}) on "
            f"{loaded.device}, {torch.get_num_threads()} threads",
            err=True,
        )
    with progress_reporter("denoising", unit="tiles", quiet=quiet) as progress:
        result = denoise_file(
            input_path,
            output_path,
            model=loaded,
            precision=precision,
            tile=tile,
            batch_size=batch_size,
            modality=modality,
            series_uid=series_uid,
            output_format=output_format,
            overwrite=overwrite,
            progress=progress,
        )
    if result.clipped and (verbose or not quiet):
        click.echo(f"note: {result.clipped} values clipped to the storable range", err=True)
    if not quiet:
        click.echo(
            f"wrote {result.output}: {result.slices} slice{'s' * (result.slices != 1)} in "
            f"{result.seconds:.1f} s ({result.slices_per_second:.2f} slices/s)"
        )


@main.command("train")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path),
    help="TOML training configuration (see configs/default_train.toml).",
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Run folder."
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last.pt.")
@click.option("--steps", type=click.IntRange(1), help="Override the configured steps.")
@click.option("--threads", type=click.IntRange(1, 1024), help="CPU threads for torch.")
@click.option(
    "--max-minutes",
    type=click.FloatRange(0.1),
    help="Stop with a checkpoint after this long (resume later with --resume).",
)
@click.option(
    "--distributed",
    is_flag=True,
    help="Run under torchrun: DistributedDataParallel over the launched processes.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def train_command(
    config_path: Path,
    out_dir: Path,
    resume: bool,
    steps: int | None,
    threads: int | None,
    max_minutes: float | None,
    distributed: bool,
    quiet: bool,
) -> None:
    """Train a denoiser on Algorithm 1 noise as configured, with checkpoints and resume."""
    import torch

    from meddenoise.console import progress_reporter
    from meddenoise.train.config import load_config
    from meddenoise.train.distributed import distributed_context
    from meddenoise.train.loop import StepReport, train

    config = load_config(config_path, steps=steps)
    torch.set_num_threads(threads or os.cpu_count() or 1)
    with distributed_context(distributed) as rank:
        show = not quiet and rank == 0
        with progress_reporter("training", unit="steps", quiet=not show) as progress:
            last_line = [0.0]

            def on_step(report: StepReport) -> None:
                progress(report.step, report.steps)
                if show and (report.validation or report.step - last_line[0] >= 25):
                    last_line[0] = report.step
                    extra = ""
                    if report.validation:
                        extra = f", validation PSNR {report.validation['mean']:.2f} dB"
                    click.echo(
                        f"step {report.step}: loss {report.loss:.5f}, "
                        f"{report.patches_per_second:.1f} patches/s{extra}",
                        err=True,
                    )

            result = train(
                config,
                out_dir,
                resume=resume,
                on_step=on_step,
                max_seconds=max_minutes * 60 if max_minutes else None,
            )
    if rank == 0 and not quiet:
        best = f", best validation PSNR {result.best_psnr:.2f} dB" if result.best_psnr else ""
        click.echo(
            f"trained to step {result.steps} in {result.seconds / 60:.1f} min{best}; "
            f"checkpoints in {result.out_dir}"
        )


def _csv_list(text: str, kind: type = str) -> tuple[Any, ...]:
    try:
        return tuple(kind(part.strip()) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"not a comma-separated list of {kind.__name__}: {text}") from None


@main.command("evaluate")
@click.option(
    "--model",
    "models",
    multiple=True,
    help="A model to evaluate: PATH, 'default', or LABEL=PATH (repeatable).",
)
@click.option(
    "--data",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A folder of images or series (repeatable); default: the split's validation items.",
)
@click.option(
    "--split",
    "split_path",
    type=click.Path(path_type=Path),
    help="Split file whose validation items are evaluated (default configs/split.toml "
    "when no --data is given).",
)
@click.option("--family", help="Family of --data images (else from their DICOM modality).")
@click.option("--families", help="Only these families, comma-separated.")
@click.option("--max-items", type=click.IntRange(1), help="At most this many items per family.")
@click.option("--max-slices", type=click.IntRange(1), default=3, show_default=True)
@click.option("--sigmas", default="10,25,50,75", show_default=True, help="0..255 scale.")
@click.option("--noise", "kinds", default="gaussian,speckle", show_default=True)
@click.option(
    "--methods",
    default="noisy,nlm,tv,wavelet,bm3d",
    show_default=True,
    help="Baselines (bm3d only where the eval extra is installed).",
)
@click.option("--bm3d-true-sigma", is_flag=True, help="Give BM3D the true sigma (Gaussian).")
@click.option(
    "--crop", type=click.IntRange(0), default=256, show_default=True, help="0: whole slices."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto")
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    help="CSV of all rows; a Markdown table is written beside it (.md).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing result files.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def evaluate_command(
    models: tuple[str, ...],
    data: tuple[Path, ...],
    split_path: Path | None,
    family: str | None,
    families: str | None,
    max_items: int | None,
    max_slices: int,
    sigmas: str,
    kinds: str,
    methods: str,
    bm3d_true_sigma: bool,
    crop: int,
    seed: int,
    device: str,
    precision: str,
    out_path: Path | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Evaluate models against classical baselines with the paper's protocol.

    For every image, noise kind and sigma, one seeded noisy image; every method denoises
    it; PSNR, SSIM, DeltaE, VIFP and MSE against the clean image, averaged per modality.
    Two runs give identical numbers.
    """
    from meddenoise.console import progress_reporter
    from meddenoise.evaluation import (
        EvaluationConfig,
        evaluate,
        format_table,
        load_eval_images,
        write_report,
    )
    from meddenoise.io.atomic import check_output_path

    outputs = []
    if out_path is not None:
        outputs = [out_path, out_path.with_suffix(".md")]
        for target in outputs:
            check_output_path(target, overwrite=overwrite)
    if split_path is None and not data:
        split_path = Path("configs/split.toml")
    specs = []
    for text in models:
        label, sep, path = text.partition("=")
        specs.append(
            (label, path) if sep else (Path(text).stem if text != "default" else text, text)
        )
    config = EvaluationConfig(
        sigmas=_csv_list(sigmas, float),
        kinds=_csv_list(kinds),
        methods=_csv_list(methods),
        max_slices=max_slices,
        crop=crop or None,
        seed=seed,
        bm3d_true_sigma=bm3d_true_sigma,
        device=device,
        precision=precision,
    )
    images = load_eval_images(
        split=split_path,
        data=data,
        family=family,
        families=_csv_list(families) if families else None,
        max_items=max_items,
        max_slices=max_slices,
    )
    with progress_reporter("evaluating", unit="runs", quiet=quiet) as progress:
        result = evaluate(images, models=specs, config=config, progress=progress)
    click.echo(format_table(result))
    if out_path is not None:
        write_report(result, outputs[0], overwrite=overwrite)
        write_report(result, outputs[1], overwrite=overwrite)
        click.echo(f"wrote {outputs[0]} and {outputs[1]}")


if __name__ == "__main__":  # pragma: no cover
    main()
