"""Build the :class:`SeriesReport` of one denoised series from its input and output files.

The input is read once to choose the window and the slices; only the chosen slices are
kept, so at most one whole series is in memory at a time (input, then output, then the
reference). The output is read back from disk: the report shows what was written.

Nothing identifying the patient enters a report unless ``include_phi``: a series is
described by its file or folder name, format, modality, size and spacing; the DICOM
series description (which can hold names in practice) is identifying data too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from meddenoise.errors import ProcessingError
from meddenoise.report.images import (
    SlicePanel,
    Window,
    choose_slices,
    choose_window,
    difference_half_width,
    display_size,
    render_difference,
    render_slice,
    resize_panel,
    slice_content,
)
from meddenoise.report.noise import NoiseEstimate, choose_flat_blocks, flat_sigma, wavelet_sigma

if TYPE_CHECKING:
    from meddenoise.api import LoadedModel
    from meddenoise.image import MedicalImage
    from meddenoise.intensity import IntensityMapping

__all__ = ["ItemSummary", "ModelInfo", "SeriesReport", "build_series_report"]

F64 = npt.NDArray[np.float64]

#: Values looked at to choose a percentile window (a regular subsample of larger series).
_MAX_SAMPLES = 2_000_000

#: DICOM attributes shown with ``include_phi`` (keyword, label).
PHI_FIELDS: tuple[tuple[str, str], ...] = (
    ("PatientName", "Patient name"),
    ("PatientID", "Patient ID"),
    ("SeriesDescription", "Series description"),
)


@dataclass(frozen=True)
class ModelInfo:
    """The model a series was denoised with: name, architecture, short SHA-256."""

    name: str
    arch: str
    sha256: str

    @classmethod
    def from_loaded(cls, loaded: LoadedModel) -> ModelInfo:
        """Describe a model from :func:`meddenoise.api.load_model`."""
        return cls(loaded.name, loaded.arch, loaded.short_hash)


@dataclass(frozen=True)
class ItemSummary:
    """One row of a batch report's summary table.

    Attributes
    ----------
    key : str
        The item (its path relative to the input folder).
    status : str
        ``done``, ``done earlier``, ``failed``, ``skipped`` or ``not run``.
    seconds : float or None
        Processing time.
    error : str or None
        One line, for a failed item.
    section : int or None
        Number of the item's section in the report, where it has one.
    """

    key: str
    status: str
    seconds: float | None = None
    error: str | None = None
    section: int | None = None


@dataclass(frozen=True)
class SeriesReport:
    """Everything the report shows of one series.

    Attributes
    ----------
    name, output_name : str
        How the input and the output are named (a file or folder name, or a path relative
        to a batch's folders; never a full path).
    description : dict of str to str
        Non-identifying facts: format, modality, slices, size, spacing, dtype.
    window : Window
        Display window of before and after (physical values).
    difference_half_width : float
        The difference panels show -this..+this, in ``unit``.
    unit : str
        ``"HU"`` for CT, else ``"stored units"`` (physical values).
    panels : list of SlicePanel
        The representative slices.
    noise_before, noise_after : NoiseEstimate
        In ``unit``.
    model_scale : float
        Width of the model's intensity mapping: ``unit / model_scale`` is the [0, 1] scale.
    model : ModelInfo
    parameters : dict of str to str
    seconds : float or None
        Denoising wall time.
    metrics : dict or None
        With a reference: ``{"input": {...}, "output": {...}}`` of
        :func:`meddenoise.metrics.compute_metrics`, means over the shown slices.
    identity : dict of str to str or None
        Patient name, ID and series description; only with ``include_phi``.
    """

    name: str
    output_name: str
    description: dict[str, str]
    window: Window
    difference_half_width: float
    unit: str
    panels: list[SlicePanel]
    noise_before: NoiseEstimate
    noise_after: NoiseEstimate
    model_scale: float
    model: ModelInfo
    parameters: dict[str, str] = field(default_factory=dict)
    seconds: float | None = None
    metrics: dict[str, dict[str, float]] | None = None
    identity: dict[str, str] | None = None


def build_series_report(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    model: ModelInfo | LoadedModel,
    parameters: dict[str, Any] | None = None,
    seconds: float | None = None,
    reference: str | os.PathLike[str] | None = None,
    series_uid: str | None = None,
    modality: str | None = None,
    include_phi: bool = False,
    name: str | None = None,
) -> SeriesReport:
    """Read a denoised series and its input and describe them for the QA report.

    Parameters
    ----------
    input_path, output_path : path-like
        What was denoised and what was written.
    model : ModelInfo or LoadedModel
        The model used.
    parameters : dict, optional
        Options of the run to show (precision, tile...).
    seconds : float, optional
        Wall time of the denoising.
    reference : path-like, optional
        A clean image of the same shape: PSNR, SSIM, DeltaE, VIFP and MSE of the input
        and of the output against it.
    series_uid, modality : str, optional
        As given to :func:`meddenoise.io.read_image` for the input.
    include_phi : bool
        Add the patient name, ID and series description (DICOM only).
    name : str, optional
        The series' name in the report (default: the input's file or folder name).

    Returns
    -------
    SeriesReport

    Raises
    ------
    InputError
        For an unreadable input, output or reference.
    ProcessingError
        When the output or the reference differs in shape from the input.
    """
    from meddenoise.intensity import plan_mapping
    from meddenoise.io import read_image

    image = read_image(input_path, series_uid=series_uid, modality=modality)
    hu = _is_hu(image)
    window = choose_window(_sample(image), hu=hu)
    content = [slice_content(_physical(image, k)[::4, ::4], window) for k in range(image.n_slices)]
    chosen = choose_slices(content)
    before = [_physical(image, k) for k in chosen]
    padding = [_padding(image, k) for k in chosen]
    mapping = plan_mapping(image)
    invert = image.photometric == "MONOCHROME1"
    spacing = image.geometry.pixel_spacing if image.geometry is not None else None
    description = _describe(image, hu)
    identity = _identity(image) if include_phi else None
    shape, used_modality = image.shape, image.modality
    del image
    after = _read_slices(output_path, chosen, shape, used_modality, "output")
    metrics = None
    if reference is not None:
        ref = _read_slices(reference, chosen, shape, used_modality, "reference")
        metrics = {
            "input": _metrics(ref, before, mapping),
            "output": _metrics(ref, after, mapping),
        }
    differences = [a - b for a, b in zip(after, before, strict=True)]
    half = difference_half_width(differences)
    size = display_size(shape[1], shape[2], spacing=spacing)
    panels = [
        SlicePanel(
            k,
            resize_panel(render_slice(b, window, invert=invert), size),
            resize_panel(render_slice(a, window, invert=invert), size),
            resize_panel(render_difference(d, half), size),
        )
        for k, b, a, d in zip(chosen, before, after, differences, strict=True)
    ]
    blocks = [
        choose_flat_blocks(b, low=window.low, high=window.high, padding=p)
        for b, p in zip(before, padding, strict=True)
    ]
    return SeriesReport(
        name=name or Path(input_path).name,
        output_name=Path(output_path).name,
        description=description,
        window=window,
        difference_half_width=half,
        unit="HU" if hu else "stored units",
        panels=panels,
        noise_before=NoiseEstimate(wavelet_sigma(before), flat_sigma(before, blocks)),
        noise_after=NoiseEstimate(wavelet_sigma(after), flat_sigma(after, blocks)),
        model_scale=mapping.high - mapping.low,
        model=model if isinstance(model, ModelInfo) else ModelInfo.from_loaded(model),
        parameters={str(k): str(v) for k, v in (parameters or {}).items()},
        seconds=seconds,
        metrics=metrics,
        identity=identity,
    )


def _is_hu(image: MedicalImage) -> bool:
    """CT, or a grey DICOM series whose RescaleType says HU."""
    if image.is_color:
        return False
    if image.modality.upper() == "CT":
        return True
    datasets = getattr(image.source, "datasets", None) or []
    return bool(datasets) and str(datasets[0].get("RescaleType", "")).upper() == "HU"


def _physical(image: MedicalImage, k: int) -> F64:
    values: F64 = image.physical(k, k + 1)[0]
    return values


def _padding(image: MedicalImage, k: int) -> npt.NDArray[np.bool_] | None:
    if image.padding_value is None:
        return None
    stored = image.pixels[k]
    mask: npt.NDArray[np.bool_] = np.asarray(stored == image.padding_value)
    if mask.ndim == 3:
        mask = np.asarray(mask.any(axis=-1))
    return mask


def _sample(image: MedicalImage) -> F64:
    """Physical values of a regular subsample of the series, padding excluded."""
    per_slice = int(np.prod(image.pixels.shape[1:]))
    step = max(1, int(np.ceil(image.n_slices * per_slice / _MAX_SAMPLES)))
    chunks = []
    for k in range(image.n_slices):
        flat = image.pixels[k].reshape(-1)[(k % step) :: step]
        if image.padding_value is not None:
            flat = flat[flat != image.padding_value]
        chunks.append(flat.astype(np.float64) * image.slope[k] + image.intercept[k])
    values: F64 = np.concatenate(chunks)
    return values


def _read_slices(
    path: str | os.PathLike[str],
    chosen: list[int],
    shape: tuple[int, ...],
    modality: str,
    what: str,
) -> list[F64]:
    from meddenoise.io import read_image

    image = read_image(path, modality=modality)
    if image.shape != shape:
        raise ProcessingError(
            f"{Path(path).name}: the {what} has shape {image.shape}, the input {shape}"
        )
    return [_physical(image, k) for k in chosen]


def _describe(image: MedicalImage, hu: bool) -> dict[str, str]:
    """Non-identifying facts (a whitelist: no metadata is copied wholesale)."""
    n, rows, cols = image.pixels.shape[:3]
    info = {
        "format": image.format,
        "modality": image.modality + (" (HU)" if hu and image.modality.upper() != "CT" else ""),
        "slices": str(n),
        "size (rows x columns)": f"{rows} x {cols}" + (" x RGB" if image.is_color else ""),
        "stored type": str(image.pixels.dtype),
        "photometric": image.photometric,
    }
    if image.geometry is not None:
        row, col = image.geometry.pixel_spacing
        info["pixel spacing (mm)"] = f"{row:.4g} x {col:.4g}"
        if image.geometry.slice_spacing is not None:
            info["slice spacing (mm)"] = f"{image.geometry.slice_spacing:.4g}"
    return info


def _identity(image: MedicalImage) -> dict[str, str]:
    datasets = getattr(image.source, "datasets", None) or []
    if not datasets:
        return {}
    ds = datasets[0]
    return {label: str(ds.get(keyword) or "") for keyword, label in PHI_FIELDS}


def _metrics(reference: list[F64], test: list[F64], mapping: IntensityMapping) -> dict[str, float]:
    """Mean of each metric over the slices, on the model's [0, 1] scale (NaN if undefined)."""
    from meddenoise import metrics as m
    from meddenoise.errors import InputError

    funcs = {"psnr": m.psnr, "ssim": m.ssim, "delta_e": m.delta_e, "vifp": m.vifp, "mse": m.mse}
    totals: dict[str, list[float]] = {name: [] for name in m.METRICS}
    for ref, tst in zip(reference, test, strict=True):
        r, t = _to_unit(ref, mapping), _to_unit(tst, mapping)
        for name in m.METRICS:
            try:
                totals[name].append(funcs[name](r, t))
            except InputError:  # too small for SSIM or VIFP
                totals[name].append(float("nan"))
    return {name: float(np.mean(values)) for name, values in totals.items()}


def _to_unit(physical: F64, mapping: IntensityMapping) -> F64:
    """Physical values on the model's [0, 1] scale, channel-first for colour."""
    unit = np.clip((physical - mapping.low) / (mapping.high - mapping.low), 0.0, 1.0)
    if mapping.invert:
        unit = 1.0 - unit
    out: F64 = np.moveaxis(unit, -1, 0) if unit.ndim == 3 else unit
    return out
