"""The Python API: load a model once, denoise arrays, images and files.

These are the functions the command line calls and that scripts and evaluations use.
Every option after the data is keyword-only.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from meddenoise.models import build_model
>>> from meddenoise.checkpoint import save_checkpoint
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.pt"
>>> _ = save_checkpoint(path, build_model("nen", depth=1))
>>> out = denoise_array(np.full((8, 9), 0.5, np.float32), model=str(path), device="cpu")
>>> out.shape, out.dtype
((8, 9), dtype('float32'))
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from meddenoise.errors import InputError

if TYPE_CHECKING:
    import torch

    from meddenoise.batch.runner import BatchSummary, ItemCallback
    from meddenoise.engine.inference import Progress
    from meddenoise.image import MedicalImage
    from meddenoise.intensity import IntensityMapping, RestoreStats
    from meddenoise.models.base import Denoiser

__all__ = [
    "DenoiseResult",
    "LoadedModel",
    "default_model_path",
    "denoise",
    "denoise_array",
    "denoise_file",
    "denoise_folder",
    "denoise_series",
    "load_model",
]

WEIGHTS_DIR = Path(__file__).parent / "weights"

#: Slices converted to the model's range at a time (bounds float memory for big series).
SLICE_CHUNK = 8


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference, with what describes it.

    Attributes
    ----------
    model : Denoiser
        In eval mode, on :attr:`device`.
    name : str
        ``"default"`` or the checkpoint's file name.
    sha256 : str
        Hash of the checkpoint file (the first 12 hex digits identify it in outputs).
    arch : str
        Registry name of the architecture.
    device : torch.device
        Where it runs.
    info : dict
        The checkpoint's training and metrics descriptions.
    """

    model: Denoiser
    name: str
    sha256: str
    arch: str
    device: torch.device
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def short_hash(self) -> str:
        """First 12 hex digits of the checkpoint hash."""
        return self.sha256[:12]


@dataclass(frozen=True)
class DenoiseResult:
    """What :func:`denoise_file` wrote and how long it took.

    Attributes
    ----------
    output : Path
        The file or series folder written.
    slices : int
        Slices denoised.
    seconds : float
        Wall time from reading to the end of writing.
    model_seconds : float
        Time spent in the model (the rest is reading, intensity mapping and writing).
    clipped : int
        Values clipped to the storable range on the way back.
    """

    output: Path
    slices: int
    seconds: float
    model_seconds: float
    clipped: int = 0

    @property
    def slices_per_second(self) -> float:
        """Throughput over the whole run."""
        return self.slices / self.seconds if self.seconds > 0 else float("inf")


def default_model_path() -> Path:
    """Return the shipped default checkpoint (``weights/default-<sha256[:12]>.pt``).

    The digest in the file name is checked against the file, so a damaged or replaced
    default model is refused rather than used.

    Raises
    ------
    InputError
        When this installation ships no default model, more than one, or one whose
        content does not match its name.
    """
    from meddenoise.checkpoint import DIGEST_CHARS, file_digest

    found = sorted(WEIGHTS_DIR.glob("default-*.pt")) if WEIGHTS_DIR.is_dir() else []
    if not found:
        raise InputError(
            "no trained default model ships with this version of meddenoise; "
            "pass a checkpoint with --model PATH (random weights are never used)"
        )
    if len(found) > 1:
        names = ", ".join(path.name for path in found)
        raise InputError(f"{WEIGHTS_DIR}: several default models ({names}); keep one")
    path = found[0]
    expected = path.stem.removeprefix("default-")
    if len(expected) != DIGEST_CHARS or file_digest(path)[:DIGEST_CHARS] != expected:
        raise InputError(f"{path}: content does not match the digest in its name; reinstall")
    return path


def load_model(
    name_or_path: str | os.PathLike[str] = "default", *, device: str = "auto"
) -> LoadedModel:
    """Load a checkpoint once per process and device, ready for inference.

    Parameters
    ----------
    name_or_path : str or path-like
        ``"default"`` for the shipped model, or a checkpoint file.
    device : str
        ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Returns
    -------
    LoadedModel

    Raises
    ------
    InputError
        For a missing default model, a bad checkpoint or an unavailable device.
    """
    from meddenoise.device import resolve_device

    resolved = resolve_device(device)
    is_default = str(name_or_path) == "default"
    path = default_model_path() if is_default else Path(name_or_path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file")
    return _load_cached(str(path.resolve()), str(resolved), "default" if is_default else path.name)


@lru_cache(maxsize=4)
def _load_cached(path: str, device: str, name: str) -> LoadedModel:
    import torch

    from meddenoise.checkpoint import file_digest, load_checkpoint

    ckpt = load_checkpoint(path)
    model = ckpt.build().to(torch.device(device))
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs lack it
    digest = file_digest(path)
    info = {"training": ckpt.training, "metrics": ckpt.metrics, "normalization": ckpt.normalization}
    return LoadedModel(model.eval(), name, digest, ckpt.arch, torch.device(device), info)


def _as_loaded(model: str | os.PathLike[str] | LoadedModel, device: str) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else load_model(model, device=device)


def _run(
    loaded: LoadedModel,
    x: npt.NDArray[np.float32],
    *,
    precision: str,
    tile: int,
    batch_size: int | None,
    progress: Progress | None,
) -> npt.NDArray[np.float32]:
    import torch

    from meddenoise.engine.inference import TilingConfig, denoise_tensor
    from meddenoise.engine.precision import resolve_precision

    chosen = resolve_precision(precision, loaded.device)
    out = denoise_tensor(
        loaded.model,
        torch.from_numpy(np.ascontiguousarray(x)),
        config=TilingConfig(tile=tile, batch_size=batch_size),
        precision=chosen,
        progress=progress,
    )
    result: npt.NDArray[np.float32] = out.numpy()
    return result


def denoise_array(
    array: npt.ArrayLike,
    *,
    model: str | os.PathLike[str] | LoadedModel = "default",
    device: str = "auto",
    precision: str = "auto",
    tile: int = 512,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Denoise float images in [0, 1]: ``(H, W)``, ``(H, W, 3)``, ``(N, H, W)`` or ``(N, H, W, 3)``.

    A 3-D array whose last axis is 3 is one colour image; other 3-D arrays are stacks of
    grey slices. Grey images go through the model as three equal channels and come back
    as the mean of the three outputs.

    Parameters
    ----------
    array : array-like
        Floating-point values in [0, 1].
    model : str, path-like or LoadedModel
        ``"default"``, a checkpoint path, or a model from :func:`load_model`.
    device, precision : str
        Where and in which arithmetic to run (see :func:`load_model`,
        :func:`~meddenoise.engine.precision.resolve_precision`).
    tile, batch_size : int
        Tiling of large images; the result does not depend on them. ``batch_size=None``
        is 1 on a CPU and 4 on an accelerator.
    progress : callable, optional
        ``progress(done, total)`` in tiles.

    Returns
    -------
    ndarray
        Same shape and dtype as ``array``, clipped to [0, 1].
    """
    arr = np.asarray(array)
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"denoise_array needs floats in [0, 1], got dtype {arr.dtype}")
    if arr.ndim not in (2, 3, 4) or arr.size == 0:
        raise InputError(f"expected (H, W), (H, W, 3), (N, H, W) or (N, H, W, 3), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError("array holds NaN or Inf")
    color = arr.ndim == 4 or (arr.ndim == 3 and arr.shape[-1] == 3)
    if arr.ndim == 4 and arr.shape[-1] != 3:
        raise InputError(f"a 4-D array must be (N, H, W, 3), got {arr.shape}")
    stack = arr[None] if arr.ndim == 2 or (arr.ndim == 3 and color) else arr
    x = stack.transpose(0, 3, 1, 2) if color else np.repeat(stack[:, None], 3, axis=1)
    loaded = _as_loaded(model, device)
    y = _run(
        loaded,
        np.clip(x, 0.0, 1.0).astype(np.float32),
        precision=precision,
        tile=tile,
        batch_size=batch_size,
        progress=progress,
    )
    back = y.transpose(0, 2, 3, 1) if color else y.mean(axis=1)
    if arr.ndim == 2 or (arr.ndim == 3 and color):
        back = back[0]
    result: np.ndarray = np.clip(back, 0.0, 1.0).astype(arr.dtype)
    return result


def denoise(
    image: MedicalImage,
    *,
    model: str | os.PathLike[str] | LoadedModel = "default",
    device: str = "auto",
    precision: str = "auto",
    tile: int = 512,
    batch_size: int | None = None,
    mapping: IntensityMapping | None = None,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
) -> tuple[MedicalImage, RestoreStats]:
    """Denoise a :class:`~meddenoise.image.MedicalImage`, a few slices at a time.

    The intensity mapping is planned once for the whole series; slices go through the
    model in chunks, so float memory stays bounded for long series. ``timings``, when
    given, receives the seconds spent in the model (``"model"``) and in the intensity
    mapping (``"intensity"``).

    Returns
    -------
    image : MedicalImage
        A copy with denoised stored values (same dtype, same everything else).
    stats : RestoreStats
        Values clipped to the storable range, pixels passed through unchanged.
    """
    from meddenoise.engine.tiling import plan_tiles
    from meddenoise.intensity import RestoreStats, from_model, plan_mapping, to_model

    loaded = _as_loaded(model, device)
    mapping = mapping or plan_mapping(image)
    out = np.empty_like(image.pixels)
    stats = RestoreStats()
    n, height, width = image.pixels.shape[:3]
    per_slice = len(plan_tiles(height, width, tile=tile, margin=loaded.model.receptive_radius))
    model_time = intensity_time = 0.0
    for start in range(0, n, SLICE_CHUNK):
        stop = min(start + SLICE_CHUNK, n)
        tick = time.perf_counter()
        x, _ = to_model(image, mapping, start=start, stop=stop)
        tock = time.perf_counter()
        y = _run(
            loaded,
            x,
            precision=precision,
            tile=tile,
            batch_size=batch_size,
            progress=_offset(progress, start * per_slice, n * per_slice),
        )
        model_time += time.perf_counter() - tock
        out[start:stop], chunk_stats = from_model(y, image, mapping, start=start, stop=stop)
        intensity_time += time.perf_counter() - tick
        stats = stats + chunk_stats
    if timings is not None:
        timings["model"] = timings.get("model", 0.0) + model_time
        timings["intensity"] = timings.get("intensity", 0.0) + intensity_time - model_time
    return image.with_pixels(out), stats


def _offset(progress: Progress | None, before: int, total: int) -> Progress | None:
    """Report a chunk's progress as progress through the whole series."""
    if progress is None:
        return None
    report = progress

    def chunk(done: int, _chunk_total: int) -> None:
        report(before + done, total)

    return chunk


def denoise_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | LoadedModel = "default",
    device: str = "auto",
    precision: str = "auto",
    tile: int = 512,
    batch_size: int | None = None,
    modality: str | None = None,
    series_uid: str | None = None,
    output_format: str | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    entropy: str | None = None,
    uid_prefix: str | None = None,
) -> DenoiseResult:
    """Read a file or series, denoise it and write the result.

    The output is checked before any work (it must not exist unless ``overwrite``, and
    must not be the input), and written atomically: a failure leaves nothing behind.
    A DICOM output is a derived series of the same study, recording the model.

    Parameters
    ----------
    input_path, output_path : path-like
        What to read (a file, a DICOM folder, zip file or DICOMDIR) and where to write.
    model : str, path-like or LoadedModel
        ``"default"``, a checkpoint path, or a model from :func:`load_model` (load it
        once when denoising many inputs).
    device, precision, tile, batch_size
        As in :func:`denoise_array`.
    modality : str, optional
        Modality of files that do not say (NIfTI, raster).
    series_uid : str, optional
        Which DICOM series, where the input holds several.
    output_format : str, optional
        Format to write; default from the output's suffix (a folder is DICOM).
    overwrite : bool
        Replace an existing output (never the input).
    progress : callable, optional
        ``progress(done, total)`` in tiles.
    entropy : str, optional
        DICOM output only: make the derived UIDs and dates a function of this string and
        the source, so reruns give byte-identical files (random UIDs otherwise).
    uid_prefix : str, optional
        DICOM output only: organisation UID root of the derived UIDs.

    Returns
    -------
    DenoiseResult
    """
    from meddenoise.io import detect_format, read_image, write_image
    from meddenoise.io import output_format as format_of
    from meddenoise.io.atomic import check_output_path

    started = time.perf_counter()
    fmt = output_format or format_of(output_path)
    check_output_path(output_path, overwrite=overwrite, inputs=[input_path])
    if fmt == "dicom" and detect_format(input_path) != "dicom":
        # Checked before the model runs: the writer needs the source's DICOM attributes.
        raise InputError(
            f"{input_path}: DICOM output needs an image read from DICOM; choose another format"
        )
    loaded = _as_loaded(model, device)
    image = read_image(input_path, series_uid=series_uid, modality=modality)
    timings: dict[str, float] = {}
    result, stats = denoise(
        image,
        model=loaded,
        precision=precision,
        tile=tile,
        batch_size=batch_size,
        progress=progress,
        timings=timings,
    )
    options: dict[str, Any] = {}
    if fmt == "dicom":
        options["derivation"] = _derivation(loaded, precision=precision)
        options["entropy"] = entropy
        options["uid_prefix"] = uid_prefix
    written = write_image(result, output_path, format=fmt, overwrite=overwrite, **options)
    return DenoiseResult(
        output=written,
        slices=image.n_slices,
        seconds=time.perf_counter() - started,
        model_seconds=timings["model"],
        clipped=stats.clipped,
    )


def _derivation(loaded: LoadedModel, *, precision: str) -> Any:
    from meddenoise.io.dicom.derivation import Derivation

    return Derivation.from_model(
        f"{loaded.name} ({loaded.arch})",
        f"sha256:{loaded.short_hash}",
        {"precision": precision},
    )


def denoise_series(
    series_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | LoadedModel = "default",
    series_uid: str | None = None,
    device: str = "auto",
    precision: str = "auto",
    overwrite: bool = False,
    deterministic: bool = False,
    uid_prefix: str | None = None,
) -> DenoiseResult:
    """Denoise one DICOM series into a derived series of the same study.

    Parameters
    ----------
    series_path : path-like
        A folder (searched recursively), zip file, DICOMDIR or single file.
    output_dir : path-like
        The folder of the derived series (``IM00001.dcm``...); it must not exist
        unless ``overwrite``.
    model : str, path-like or LoadedModel
        Load it once with :func:`load_model` when denoising many series.
    series_uid : str, optional
        Which series, where the input holds several.
    device, precision : str
        As in :func:`denoise_array`.
    overwrite : bool
        Replace an existing output folder.
    deterministic : bool
        Derive UIDs and dates from the source, so a rerun gives identical files.
    uid_prefix : str, optional
        Organisation UID root; default ``2.25`` UUID-based UIDs.

    Returns
    -------
    DenoiseResult
    """
    from meddenoise.batch.runner import BATCH_ENTROPY
    from meddenoise.io import detect_format

    if detect_format(series_path) != "dicom":
        raise InputError(f"{series_path}: not DICOM (use denoise_file for other formats)")
    return denoise_file(
        series_path,
        output_dir,
        model=model,
        device=device,
        precision=precision,
        series_uid=series_uid,
        output_format="dicom",
        overwrite=overwrite,
        entropy=BATCH_ENTROPY if deterministic else None,
        uid_prefix=uid_prefix,
    )


def denoise_folder(
    input_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | LoadedModel = "default",
    pattern: str | None = None,
    output_format: str | None = None,
    shard: tuple[int, int] = (0, 1),
    skip_existing: bool = False,
    overwrite: bool = False,
    fail_fast: bool = False,
    modality: str | None = None,
    device: str = "auto",
    precision: str = "auto",
    engine: str = "local",
    address: str | None = None,
    on_item: ItemCallback | None = None,
) -> BatchSummary:
    """Denoise every volume, image and DICOM series under a folder, resumably.

    The Python face of ``meddenoise batch``: it mirrors the folders, records each item
    in ``output_dir/manifest.jsonl``, and on a second run skips what is done. See
    :func:`meddenoise.batch.run_batch` for the details.

    Parameters
    ----------
    input_dir, output_dir : path-like
        Where to read and write.
    model : str, path-like or LoadedModel
        Loaded once for the whole folder.
    pattern : str, optional
        Glob relative to ``input_dir``, e.g. ``"**/*.nii.gz"``.
    output_format : str, optional
        Convert on the way (e.g. ``"nifti"`` for DICOM series in, NIfTI out).
    shard : tuple of int
        ``(K, N)``: only shard K of N.
    skip_existing, overwrite, fail_fast : bool
        What to do with outputs that exist, and whether to stop at the first failure.
    modality, device, precision : str
        As in :func:`denoise_file`.
    engine, address : str
        ``"local"`` or ``"ray"`` and the Ray cluster's address.
    on_item : callable, optional
        ``on_item(index, total, item, outcome)`` after each item.

    Returns
    -------
    meddenoise.batch.BatchSummary
        Counts of done, failed and skipped items, and the manifest's path.
    """
    from meddenoise.batch import BatchOptions, run_batch

    options = BatchOptions(
        pattern=pattern,
        output_format=output_format,
        shard=shard,
        skip_existing=skip_existing,
        overwrite=overwrite,
        fail_fast=fail_fast,
        modality=modality,
        device=device,
        precision=precision,
    )
    return run_batch(
        input_dir,
        output_dir,
        model=model,
        options=options,
        engine=engine,
        address=address,
        on_item=on_item,
    )
