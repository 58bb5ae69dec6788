"""The ``meddenoise`` command line: a thin layer of click over the Python API.

Each command parses its options, makes one keyword call into the library and reports.
Heavy modules (torch, pydicom...) are imported inside the commands, so ``--help`` and
``--version`` start fast and ``import meddenoise.cli`` loads no torch.

Exit codes: 0 done, 1 processing failed, 2 bad usage or bad input.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from meddenoise._version import __version__
from meddenoise.cli_options import inference_options
from meddenoise.errors import MeddenoiseError
from meddenoise.node.command import serve_command

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
        except BrokenPipeError:
            # The reader went away (``meddenoise models | head``): stop quietly. Point
            # stdout at /dev/null so that the interpreter's final flush cannot fail too.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
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
    from meddenoise.api import default_model_path
    from meddenoise.checkpoint import load_checkpoint

    try:
        path = default_model_path()
    except MeddenoiseError as exc:
        click.echo(f"default model: none ({exc})")
        return
    ckpt = load_checkpoint(path)
    steps = ckpt.training.get("steps", "?")
    click.echo(f"default model: {path.name} ({ckpt.arch}, {steps} training steps)")


@main.command("info")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--series-uid", help="Which DICOM series, where INPUT holds several.")
@click.option("--modality", help="Modality for files that do not say (e.g. CT for NIfTI).")
@click.option(
    "--include-phi",
    is_flag=True,
    help="Also print the series description (free text that may name the patient).",
)
def info_command(
    input_path: Path, series_uid: str | None, modality: str | None, include_phi: bool
) -> None:
    """Read INPUT and describe it: format, modality, size, dtype, rescale, geometry.

    INPUT is a DICOM file, folder, zip file or DICOMDIR, a NIfTI, MetaImage, PNG, JPEG or
    TIFF file. Nothing identifying the patient is printed: no patient attributes, dates
    or UIDs, and the free-text series description only with --include-phi.
    """
    from meddenoise.io import read_image

    image = read_image(input_path, series_uid=series_uid, modality=modality)
    described = image.describe()
    if not include_phi:
        described.pop("series_description", None)
    width = max(len(key) for key in described)
    for key, value in described.items():
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
@inference_options
@click.option(
    "--batch-size",
    type=click.IntRange(1, 4096),
    help="Tiles per pass (default: 1 on a CPU, 4 on a GPU).",
)
@click.option("--modality", help="Modality for files that do not say (e.g. CT for NIfTI).")
@click.option("--series-uid", help="Which DICOM series, where INPUT holds several.")
@click.option(
    "--output-format",
    type=click.Choice(_FORMATS),
    help="Format to write (default: from the output's suffix; none = DICOM series).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output (and report).")
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write a QA report: before, after, difference, noise (self-contained HTML).",
)
@click.option(
    "--reference",
    "reference_path",
    type=click.Path(path_type=Path),
    help="A clean image of the same shape: the report adds PSNR, SSIM... (needs --report).",
)
@click.option(
    "--include-phi",
    is_flag=True,
    help="Show patient name, ID and series description in the report (default: none).",
)
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
    report_path: Path | None,
    reference_path: Path | None,
    include_phi: bool,
    quiet: bool,
    verbose: int,
) -> None:
    """Denoise INPUT and write OUTPUT with the same intensities, dtype and metadata.

    INPUT is a DICOM file, folder, zip file or DICOMDIR, a NIfTI, MetaImage, PNG, JPEG
    or TIFF file. A DICOM series is written as a derived series of the same study.
    With --report, a QA report follows; if it fails, OUTPUT stays and the exit code is 1.
    """
    import torch

    from meddenoise.api import denoise_file, load_model
    from meddenoise.console import progress_reporter

    if report_path is None and (reference_path is not None or include_phi):
        raise click.UsageError("--reference and --include-phi need --report")
    if report_path is not None:
        from meddenoise.io import detect_format
        from meddenoise.report import check_report_path

        reads = [input_path] + ([reference_path] if reference_path is not None else [])
        check_report_path(report_path, overwrite=overwrite, inputs=reads, outputs=[output_path])
        if reference_path is not None:
            detect_format(reference_path)
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
    if report_path is None:
        return
    from meddenoise.report import build_series_report, write_report

    parameters = {
        "device": loaded.device,
        "precision": precision,
        "tile": tile,
        "output format": output_format or "from the output's suffix",
    }
    if modality:
        parameters["modality hint"] = modality
    with _report_failure():
        series = build_series_report(
            input_path,
            result.output,
            model=loaded,
            parameters=parameters,
            seconds=result.seconds,
            reference=reference_path,
            series_uid=series_uid,
            modality=modality,
            include_phi=include_phi,
        )
        written = write_report([series], report_path, overwrite=overwrite)
    if not quiet:
        click.echo(f"wrote report {written} ({written.stat().st_size / 1e6:.1f} MB)")


@contextmanager
def _report_failure() -> Iterator[None]:
    """Turn a failed report into a one-line error and exit code 1 (outputs are kept)."""
    try:
        yield
    except Exception as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        text = str(exc).strip()
        line = text.splitlines()[0] if text else type(exc).__name__
        click.echo(f"Error: report not written: {line}", err=True)
        sys.exit(1)


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
    "--device",
    default="cpu",
    show_default=True,
    help="Where to train: cpu, cuda, cuda:N, mps or auto.",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 256),
    default=0,
    show_default=True,
    help="Processes drawing training batches ahead (use several to keep a GPU busy).",
)
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
    device: str,
    workers: int,
    max_minutes: float | None,
    distributed: bool,
    quiet: bool,
) -> None:
    """Train a denoiser on Algorithm 1 noise as configured, with checkpoints and resume."""
    import torch

    from meddenoise.console import progress_reporter
    from meddenoise.device import resolve_device
    from meddenoise.train.config import load_config
    from meddenoise.train.distributed import distributed_context
    from meddenoise.train.loop import StepReport, train

    config = load_config(config_path, steps=steps)
    where = resolve_device(device)
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
                device=where,
                workers=workers,
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


@main.command("simulate-ldct")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "output_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Output: a folder for a DICOM series, or a .nii.gz/.mha/... file.",
)
@click.option(
    "--dose",
    required=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Fraction of the original dose, e.g. 0.25.",
)
@click.option(
    "--kernel",
    required=True,
    type=click.Choice(["soft", "sharp"]),
    help="Filter of the inserted noise: Hann (soft) or ramp (sharp); match the series.",
)
@click.option("--photons", type=click.FloatRange(1, min_open=False), help="Full-dose I0.")
@click.option("--views", type=click.IntRange(8), help="Projection angles over 180 degrees.")
@click.option(
    "--hu-offset",
    type=float,
    default=0.0,
    show_default=True,
    help="Added to the values to get HU (-1000 for data stored as HU + 1000).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--series-uid", help="Which DICOM series, where the input holds several.")
@click.option("--output-format", help="Output format instead of the output's suffix.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def simulate_ldct_command(
    input_path: Path,
    output_path: Path,
    dose: float,
    kernel: str,
    photons: float | None,
    views: int | None,
    hu_offset: float,
    seed: int,
    series_uid: str | None,
    output_format: str | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Make a low-dose version of a full-dose CT series (projection-domain noise).

    Forward projection, Poisson and electronic noise for the lower dose, filtered
    back-projection of the added noise with a soft or sharp filter, back to HU; written
    as a derived series. See docs/ldct.md.
    """
    from meddenoise.console import progress_reporter
    from meddenoise.ldct.workflows import simulate_file

    with progress_reporter("simulating", unit="slices", quiet=quiet) as progress:
        result = simulate_file(
            input_path,
            output_path,
            dose=dose,
            kernel=kernel,
            photons=photons,
            views=views,
            hu_offset=hu_offset,
            seed=seed,
            series_uid=series_uid,
            output_format=output_format,
            overwrite=overwrite,
            progress=progress,
        )
    clipped = f", {result.clipped} values clipped" if result.clipped else ""
    click.echo(
        f"wrote {result.output}: {result.slices} slice{'s' * (result.slices != 1)} at "
        f"{dose:g} dose in {result.seconds:.1f} s{clipped}"
    )


@main.command("finetune")
@click.option(
    "--low-dose",
    "low",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Low-dose series (repeatable; the n-th pairs with the n-th --full-dose).",
)
@click.option(
    "--full-dose",
    "full",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Full-dose series of the same scan.",
)
@click.option(
    "--pairs-root",
    type=click.Path(path_type=Path),
    help="A folder with one sub-folder per patient holding --low-name and --full-name.",
)
@click.option("--low-name", default="quarter_1mm", show_default=True)
@click.option("--full-name", default="full_1mm", show_default=True)
@click.option("--kernel", required=True, type=click.Choice(["soft", "sharp"]))
@click.option(
    "--from",
    "start",
    default="default",
    show_default=True,
    help="Model to start from: 'default' or a checkpoint.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="The fine-tuned checkpoint (.pt).",
)
@click.option("--run-dir", type=click.Path(path_type=Path), help="Checkpoints and log.")
@click.option("--freeze", type=click.Choice(["none", "nen"]), default="none", show_default=True)
@click.option("--steps", type=click.IntRange(1), default=600, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=5e-5, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=16, show_default=True)
@click.option("--patch", type=click.IntRange(8), default=64, show_default=True)
@click.option("--validate-every", type=click.IntRange(1), default=50, show_default=True)
@click.option("--patience", type=click.IntRange(1), default=4, show_default=True)
@click.option(
    "--block",
    type=click.IntRange(1),
    default=8,
    show_default=True,
    help="Slices per validation block.",
)
@click.option(
    "--val-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of blocks held out.",
)
@click.option(
    "--hu-offset",
    type=float,
    default=0.0,
    show_default=True,
    help="Added to the values to get HU (-1000 for data stored as HU + 1000).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(1, 1024), help="CPU threads for torch.")
@click.option("--max-minutes", type=click.FloatRange(0.1), help="Stop with a checkpoint.")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir.")
@click.option("--overwrite", is_flag=True, help="Replace --out and start afresh.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def finetune_command(
    low: tuple[Path, ...],
    full: tuple[Path, ...],
    pairs_root: Path | None,
    low_name: str,
    full_name: str,
    kernel: str,
    start: str,
    out: Path,
    run_dir: Path | None,
    freeze: str,
    steps: int,
    lr: float,
    batch: int,
    patch: int,
    validate_every: int,
    patience: int,
    block: int,
    val_fraction: float,
    hu_offset: float,
    seed: int,
    threads: int | None,
    max_minutes: float | None,
    resume: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Fine-tune a model on paired low-dose / full-dose CT (transfer learning).

    Slices are paired by position; whole blocks of slices are held out for validation;
    training stops early when the validation PSNR stops improving. See docs/ldct.md.
    """
    import torch

    from meddenoise.console import progress_reporter
    from meddenoise.errors import InputError
    from meddenoise.ldct.workflows import find_pairs, finetune_files
    from meddenoise.train.finetune import FinetuneConfig
    from meddenoise.train.loop import StepReport

    if len(low) != len(full):
        raise InputError(f"{len(low)} --low-dose but {len(full)} --full-dose series")
    pairs: list[tuple[Path, Path]] = list(zip(low, full, strict=True))
    if pairs_root is not None:
        pairs.extend(find_pairs(pairs_root, low_name=low_name, full_name=full_name))
    if not pairs:
        raise InputError("give --low-dose/--full-dose pairs or --pairs-root")
    config = FinetuneConfig(
        kernel=kernel,
        steps=steps,
        lr=lr,
        batch=batch,
        patch=patch,
        freeze=freeze,
        block=block,
        val_fraction=val_fraction,
        validate_every=validate_every,
        patience=patience,
        hu_offset=hu_offset,
        seed=seed,
    )
    torch.set_num_threads(threads or os.cpu_count() or 1)
    with progress_reporter("fine-tuning", unit="steps", quiet=quiet) as progress:

        def on_step(report: StepReport) -> None:
            progress(report.step, report.steps)
            if not quiet and report.validation:
                v = report.validation
                click.echo(
                    f"step {report.step}: loss {report.loss:.5f}, validation PSNR "
                    f"{v['psnr']:.2f} dB, SSIM {v['ssim']:.4f}, RMSE {v['rmse_hu']:.1f} HU",
                    err=True,
                )

        done = finetune_files(
            pairs,
            out,
            config,
            start=start,
            run_dir=run_dir,
            resume=resume,
            overwrite=overwrite,
            on_step=on_step,
            max_seconds=max_minutes * 60 if max_minutes else None,
        )
    result = done.result
    base = result.baseline
    if base and result.best:
        click.echo(
            f"validation PSNR: low dose {base['low_psnr']:.2f} dB, start model "
            f"{base['start_psnr']:.2f} dB, fine-tuned {result.best['psnr']:.2f} dB; "
            f"RMSE {base['low_rmse_hu']:.1f} / {base['start_rmse_hu']:.1f} / "
            f"{result.best['rmse_hu']:.1f} HU"
        )
    how = "stopped early" if result.stopped_early else "stopped"
    click.echo(
        f"wrote {done.model} ({how} at step {result.steps} in {result.seconds / 60:.1f} min; "
        f"run in {done.run_dir})"
    )


@main.command("batch")
@click.argument("input_dir", metavar="INPUT_DIR", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "-o",
    "--output",
    "output_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Output folder; mirrors INPUT_DIR's folders.",
)
@click.option("--pattern", help="Glob relative to INPUT_DIR, e.g. '**/*.nii.gz' (default: all).")
@click.option("--shard", help="K/N: only shard K (0 to N-1) of N, e.g. $JOB_COMPLETION_INDEX/4.")
@click.option("--skip-existing", is_flag=True, help="Skip items whose output already exists.")
@click.option("--overwrite", is_flag=True, help="Replace outputs that exist (not recorded done).")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed item.")
@click.option(
    "--output-format",
    type=click.Choice(["dicom", "nifti", "metaimage", "png", "jpeg", "tiff"]),
    help="Convert on the way (default: each input's own format).",
)
@click.option(
    "--manifest",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Manifest file (default: OUTPUT/manifest.jsonl, or manifest-K-of-N.jsonl).",
)
@inference_options
@click.option("--modality", help="Modality for files that do not say (e.g. CT for NIfTI).")
@click.option("--uid-prefix", help="Organisation UID root of derived DICOM UIDs.")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Run here, or on a Ray cluster with one model per worker.",
)
@click.option("--address", help="Ray cluster address (default: start a local cluster).")
@click.option("--workers", type=click.IntRange(1), help="Ray workers (default: one per CPU).")
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="QA report of this run (HTML, rewritten by every run).",
)
@click.option(
    "--include-phi",
    is_flag=True,
    help="Show patient name, ID and series description in the report (default: none).",
)
@click.option("-q", "--quiet", is_flag=True, help="No per-item lines.")
def batch_command(
    input_dir: Path,
    output_dir: Path,
    pattern: str | None,
    shard: str | None,
    skip_existing: bool,
    overwrite: bool,
    fail_fast: bool,
    output_format: str | None,
    manifest: Path | None,
    model: str,
    device: str,
    precision: str,
    tile: int,
    threads: int | None,
    modality: str | None,
    uid_prefix: str | None,
    engine: str,
    address: str | None,
    workers: int | None,
    report_path: Path | None,
    include_phi: bool,
    quiet: bool,
) -> None:
    """Denoise every volume, image and DICOM series under INPUT_DIR into OUTPUT.

    A manifest (JSON lines) records every item: run the same command again after an
    interruption and it skips what is done. Exit code 1 when any item failed or the
    report (--report) could not be written.
    """
    from meddenoise.batch import BatchOptions, parse_shard, run_batch
    from meddenoise.batch.discover import BatchItem
    from meddenoise.batch.runner import Outcome

    if include_phi and report_path is None:
        raise click.UsageError("--include-phi needs --report")
    if report_path is not None:
        from meddenoise.report import check_report_path

        # Inside OUTPUT is fine (even where OUTPUT lies inside INPUT_DIR); elsewhere in
        # INPUT_DIR is not. Every run rewrites the report.
        out_abs = output_dir.expanduser().absolute().resolve()
        in_output = out_abs in report_path.expanduser().absolute().resolve().parents
        check_report_path(
            report_path,
            overwrite=True,
            inputs=[] if in_output else [input_dir],
            folder_made_later=in_output,
        )

    options = BatchOptions(
        pattern=pattern,
        output_format=output_format,
        shard=parse_shard(shard) if shard else (0, 1),
        skip_existing=skip_existing,
        overwrite=overwrite,
        fail_fast=fail_fast,
        manifest=manifest,
        modality=modality,
        device=device,
        precision=precision,
        tile=tile,
        uid_prefix=uid_prefix,
    )
    if engine == "local":
        import torch

        torch.set_num_threads(threads or os.cpu_count() or 1)

    processed: list[tuple[BatchItem, Outcome]] = []

    def report(index: int, total: int, item: BatchItem, outcome: Outcome) -> None:
        processed.append((item, outcome))
        if quiet:
            return
        what = "done" if outcome.status == "done" else f"FAILED: {outcome.error}"
        click.echo(f"[{index}/{total}] {item.key}: {what} ({outcome.seconds:.1f} s)")

    summary = run_batch(
        input_dir,
        output_dir,
        model=model,
        options=options,
        engine=engine,
        address=address,
        workers=workers,
        on_item=report,
    )
    parts = [f"{summary.done} done"]
    for count, word in (
        (summary.already_done, "already done"),
        (summary.recovered, "recovered"),
        (summary.skipped, "skipped"),
        (summary.failed, "failed"),
        (summary.not_run, "not run (--fail-fast)"),
    ):
        if count:
            parts.append(f"{count} {word}")
    of = f" of shard {options.shard[0]}/{options.shard[1]}" if options.shard[1] > 1 else ""
    click.echo(
        f"{summary.total} items{of}: {', '.join(parts)} in {summary.seconds:.1f} s; "
        f"manifest {summary.manifest}",
        err=quiet,
    )
    if report_path is not None:
        from meddenoise.api import load_model
        from meddenoise.report import write_batch_report

        with _report_failure():
            # The local engine loaded this model already (cached); Ray loads it here once.
            loaded = load_model(model, device=device if engine == "local" else "cpu")
            written = write_batch_report(
                report_path,
                input_dir=input_dir,
                output_dir=output_dir,
                summary=summary,
                processed=processed,
                model=loaded,
                options=options,
                include_phi=include_phi,
            )
        for key, error in written.missing:
            click.echo(f"Error: report: no section for {key}: {error}", err=True)
        if not quiet:
            click.echo(f"wrote report {written.path} ({written.sections} series)")
        if written.missing:
            sys.exit(1)
    if not summary.ok:
        sys.exit(1)


main.add_command(serve_command)

if __name__ == "__main__":  # pragma: no cover
    main()
