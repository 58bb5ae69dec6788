"""File-level low-dose CT workflows behind ``meddenoise simulate-ldct`` and ``finetune``.

Each function checks its outputs before any work, reads, calls the compute modules and
writes atomically: a failure leaves no partial output and never touches an input.

Several patients: :func:`find_pairs` finds one low-dose / full-dose pair per patient
folder, e.g. the AAPM / Mayo Clinic Low Dose CT Grand Challenge layout::

    ROOT/L067/full_1mm/*.IMA       ROOT/L067/quarter_1mm/*.IMA
    ROOT/L096/full_1mm/*.IMA       ROOT/L096/quarter_1mm/*.IMA

with ``low_name="quarter_1mm"`` and ``full_name="full_1mm"`` (or the ``_sharp`` folders
for the D45 kernel, the ``3mm`` ones for thick slices).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from meddenoise.errors import InputError
from meddenoise.train.finetune import FinetuneConfig, FinetuneResult
from meddenoise.train.loop import StepReport

__all__ = [
    "FinetuneFilesResult",
    "SimulateFileResult",
    "find_pairs",
    "finetune_files",
    "simulate_file",
]


@dataclass(frozen=True)
class SimulateFileResult:
    """What :func:`simulate_file` wrote."""

    output: Path
    slices: int
    seconds: float
    clipped: int


def simulate_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    dose: float,
    kernel: str,
    hu_offset: float = 0.0,
    pixel_mm: float | None = None,
    photons: float | None = None,
    views: int | None = None,
    seed: int = 0,
    series_uid: str | None = None,
    output_format: str | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SimulateFileResult:
    """Read a full-dose CT series, simulate a lower dose and write it (a derived series).

    Parameters
    ----------
    input_path, output_path : path-like
        Any CT input the readers take; the output's format follows its suffix (a folder
        for DICOM) or ``output_format``.
    dose, kernel, hu_offset, pixel_mm, photons, views, seed
        See :func:`meddenoise.ldct.series.simulate_series`.
    series_uid : str, optional
        Which DICOM series, where the input holds several.
    output_format : str, optional
        Output format instead of the suffix's.
    overwrite : bool
        Replace an existing output.
    progress : callable, optional
        ``progress(done, total)`` per slice.

    Returns
    -------
    SimulateFileResult
    """
    from meddenoise._version import __version__
    from meddenoise.io import output_format as format_of
    from meddenoise.io import read_image, write_image
    from meddenoise.io.atomic import check_output_path
    from meddenoise.ldct.series import simulate_series

    started = time.perf_counter()
    fmt = output_format or format_of(output_path)
    check_output_path(output_path, overwrite=overwrite, inputs=[input_path])
    image = read_image(input_path, series_uid=series_uid, modality="CT")
    result = simulate_series(
        image,
        dose=dose,
        kernel=kernel,
        hu_offset=hu_offset,
        pixel_mm=pixel_mm,
        photons=photons,
        views=views,
        seed=seed,
        progress=progress,
    )
    options: dict[str, object] = {}
    if fmt == "dicom":
        from meddenoise.io.dicom.derivation import PIXEL_ADDITION, Derivation

        parts = [
            f"meddenoise {__version__} simulated low dose",
            f"dose={dose:g}",
            f"kernel={kernel}",
            f"seed={seed}",
        ]
        if photons is not None:
            parts.append(f"photons={photons:g}")
        options["derivation"] = Derivation(
            description="; ".join(parts),
            series_suffix=f"sim {dose:g} dose",
            code=PIXEL_ADDITION,
        )
    written = write_image(result.image, output_path, format=fmt, overwrite=overwrite, **options)
    return SimulateFileResult(
        written, image.n_slices, time.perf_counter() - started, result.clipped
    )


def find_pairs(
    root: str | os.PathLike[str], *, low_name: str, full_name: str
) -> list[tuple[Path, Path]]:
    """Find ``(low, full)`` series pairs: one per sub-folder of ``root`` that has both.

    Parameters
    ----------
    root : path-like
        A folder with one sub-folder per patient.
    low_name, full_name : str
        Names of the low-dose and full-dose entries inside each patient folder (folders,
        or files such as ``low.nii.gz``).

    Returns
    -------
    list of (Path, Path)
        Sorted by patient folder name.

    Raises
    ------
    InputError
        When ``root`` is not a folder or no patient folder has both entries.
    """
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"{base}: not a folder")
    pairs = [
        (patient / low_name, patient / full_name)
        for patient in sorted(p for p in base.iterdir() if p.is_dir())
        if (patient / low_name).exists() and (patient / full_name).exists()
    ]
    if not pairs:
        raise InputError(f"{base}: no patient folder holds both {low_name!r} and {full_name!r}")
    return pairs


@dataclass(frozen=True)
class FinetuneFilesResult:
    """What :func:`finetune_files` did and wrote."""

    model: Path
    run_dir: Path
    result: FinetuneResult


def finetune_files(
    pairs: Sequence[tuple[str | os.PathLike[str], str | os.PathLike[str]]],
    out: str | os.PathLike[str],
    config: FinetuneConfig,
    *,
    start: str | os.PathLike[str] = "default",
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    on_step: Callable[[StepReport], None] | None = None,
    max_seconds: float | None = None,
) -> FinetuneFilesResult:
    """Fine-tune on low-dose / full-dose series and write the best model to ``out``.

    Parameters
    ----------
    pairs : sequence of (path, path)
        ``(low_dose, full_dose)`` series.
    out : path-like
        The fine-tuned checkpoint (the best validation PSNR, or the last weights when no
        slice is held out). Kept unless ``overwrite`` or ``resume``.
    config : FinetuneConfig
        How to fine-tune.
    start : str or path-like
        ``"default"`` or a checkpoint.
    run_dir : path-like, optional
        Folder of the run's checkpoints and log; ``<out stem>-run`` beside ``out``.
    resume : bool
        Continue the run in ``run_dir``.
    overwrite : bool
        Replace an existing ``out`` (and start the run afresh).
    on_step : callable, optional
        Progress callback.
    max_seconds : float, optional
        Stop with a checkpoint after this long.

    Returns
    -------
    FinetuneFilesResult
    """
    from meddenoise.checkpoint import load_checkpoint, save_checkpoint
    from meddenoise.io.atomic import check_output_path
    from meddenoise.ldct.dataset import load_pair
    from meddenoise.train.finetune import finetune

    target = Path(out)
    inputs = [Path(p) for pair in pairs for p in pair]
    check_output_path(target, overwrite=overwrite or resume, inputs=inputs)
    folder = Path(run_dir) if run_dir is not None else target.with_name(f"{target.stem}-run")
    if overwrite and not resume and folder.exists():
        shutil.rmtree(folder)
    series = [
        load_pair(
            low,
            full,
            hu_offset=config.hu_offset,
            block=config.block,
            val_fraction=config.val_fraction,
            guard=config.guard,
        )
        for low, full in pairs
    ]
    result = finetune(
        series,
        folder,
        config,
        start=start,
        resume=resume,
        on_step=on_step,
        max_seconds=max_seconds,
    )
    best = load_checkpoint(folder / "best.pt")
    save_checkpoint(
        target,
        best.build(),
        normalization=best.normalization,
        training=best.training,
        metrics=best.metrics,
    )
    return FinetuneFilesResult(target, folder, result)
