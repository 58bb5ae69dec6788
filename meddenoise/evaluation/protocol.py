"""The evaluation run of the paper's Tables I-V: fixed noise, every method, five metrics.

For every evaluation image (a slice crop), noise kind and sigma, one noisy image is made
with a seed derived from (base seed, image name, slice position in
:attr:`EvalImage.slices`, kind, sigma), so every method sees the same noisy image and two
runs give identical numbers. Each method denoises it, and
:func:`~meddenoise.metrics.compute_metrics` scores the result against the clean crop.
Grey crops are scored on one channel, colour crops on three; models see grey crops
repeated to three channels (:func:`meddenoise.api.denoise_array`).

Examples
--------
>>> import numpy as np
>>> ramp = np.tile(np.linspace(0.1, 0.9, 64, dtype=np.float32), (1, 64, 1))
>>> images = [EvalImage("ramp", "ct", (ramp,))]
>>> config = EvaluationConfig(sigmas=(25,), kinds=("gaussian",), methods=("noisy",))
>>> result = evaluate(images, config=config)
>>> row = result.rows()[0]
>>> row.family, row.method, row.kind, row.sigma, row.n
('ct', 'noisy', 'gaussian', 25.0, 1)
>>> 19.5 < row.metrics["psnr"] < 21
True
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np
import numpy.typing as npt

from meddenoise.errors import InputError
from meddenoise.evaluation.baselines import BASELINES, baseline_unavailable
from meddenoise.evaluation.data import MODALITY_FAMILIES, EvalImage, load_eval_images, spread
from meddenoise.evaluation.report import EvaluationRecord, EvaluationResult
from meddenoise.metrics import compute_metrics
from meddenoise.noise import EVAL_SIGMAS, add_noise

if TYPE_CHECKING:
    from meddenoise.api import LoadedModel

__all__ = [
    "DEFAULT_METHODS",
    "MODALITY_FAMILIES",
    "SIGMA_KINDS",
    "EvalImage",
    "EvaluationConfig",
    "ModelSpec",
    "evaluate",
    "load_eval_images",
    "noise_seed",
    "spread",
]

F32 = npt.NDArray[np.float32]
Progress = Callable[[int, int], None]
ModelSpec = tuple[str, Union[str, "os.PathLike[str]", "LoadedModel"]]
Method = Callable[[F32, str, float], F32]
#: Noise kinds whose level is a standard deviation on the 0..255 scale.
SIGMA_KINDS = ("gaussian", "speckle", "rician")
#: Classical methods evaluated by default, in table order (BM3D only where installed).
DEFAULT_METHODS = ("noisy", "nlm", "tv", "wavelet", "bm3d")
#: Smallest crop side the metrics accept (VIFP's four scales).
MIN_SIDE = 41


@dataclass(frozen=True)
class EvaluationConfig:
    """Options of :func:`evaluate`.

    Attributes
    ----------
    sigmas : tuple of float
        Noise levels on the 0..255 scale, each in (0, 255].
    kinds : tuple of str
        Noise kinds, from :data:`SIGMA_KINDS`.
    methods : tuple of str
        Classical baselines from :data:`~meddenoise.evaluation.baselines.BASELINES`; one
        that cannot run here (BM3D not installed) is skipped with a note.
    max_slices : int
        Slices per item at most, evenly spaced.
    crop : int or None
        Side of the centre crop of each slice (the whole slice where smaller); ``None``
        evaluates whole slices.
    seed : int
        Base of every noise seed.
    bm3d_true_sigma : bool
        Give BM3D the true sigma for Gaussian noise instead of the estimated one.
    device, precision : str
        Where and how models run (see :func:`meddenoise.api.denoise_array`).
    tile : int
        Model tile size (the result does not depend on it).
    """

    sigmas: tuple[float, ...] = tuple(float(s) for s in EVAL_SIGMAS)
    kinds: tuple[str, ...] = ("gaussian", "speckle")
    methods: tuple[str, ...] = DEFAULT_METHODS
    max_slices: int = 3
    crop: int | None = 256
    seed: int = 0
    bm3d_true_sigma: bool = False
    device: str = "auto"
    precision: str = "auto"
    tile: int = 512


def noise_seed(base: int, name: str, index: int, kind: str, sigma: float) -> int:
    """Derive the seed of one noisy image from what identifies it (CRC-32 of the key).

    Examples
    --------
    >>> noise_seed(0, "ct/a.nii", 2, "speckle", 25) == noise_seed(0, "ct/a.nii", 2, "speckle", 25.0)
    True
    >>> noise_seed(0, "ct/a.nii", 2, "speckle", 25) == noise_seed(1, "ct/a.nii", 2, "speckle", 25)
    False
    """
    return zlib.crc32(f"{base}|{name}|{index}|{kind}|{float(sigma)!r}".encode())


def evaluate(
    images: Sequence[EvalImage],
    *,
    models: Sequence[ModelSpec] = (),
    config: EvaluationConfig | None = None,
    progress: Progress | None = None,
) -> EvaluationResult:
    """Run the evaluation protocol on clean images.

    Parameters
    ----------
    images : sequence of EvalImage
        Clean evaluation items (see :func:`meddenoise.evaluation.load_eval_images`).
    models : sequence of (label, model)
        Models to evaluate after the baselines: a checkpoint path, ``"default"`` or a
        :class:`~meddenoise.api.LoadedModel`, each under its label in the tables.
    config : EvaluationConfig, optional
        Noise levels, kinds, baselines, slices, crop, seed and model options.
    progress : callable, optional
        ``progress(done, total)`` in (crop, kind, sigma, method) evaluations.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    InputError
        For no images, an unknown kind, method or model, a sigma out of (0, 255], a
        duplicate label, or a crop too small for the metrics.
    """
    cfg = config or EvaluationConfig()
    crops = [(im, k, c) for im in _check_inputs(images, cfg) for k, c in _crops_of(im, cfg)]
    methods, notes = _methods(models, cfg)
    total = len(crops) * len(cfg.kinds) * len(cfg.sigmas) * len(methods)
    records: list[EvaluationRecord] = []
    for image, index, clean in crops:
        for kind in cfg.kinds:
            for sigma in cfg.sigmas:
                seed = noise_seed(cfg.seed, image.name, index, kind, sigma)
                noisy = _channels_last(add_noise(clean, kind, sigma, rng=seed))
                for label, run in methods:
                    start = time.perf_counter()
                    out = run(noisy, kind, sigma)
                    seconds = time.perf_counter() - start
                    scores = compute_metrics(clean, _channels_first(out))
                    records.append(
                        EvaluationRecord(
                            image.name,
                            index,
                            image.family,
                            label,
                            kind,
                            float(sigma),
                            scores,
                            seconds,
                        )
                    )
                    if progress is not None:
                        progress(len(records), total)
    return EvaluationResult(tuple(records), cfg, tuple(label for label, _ in methods), notes)


def _check_inputs(images: Sequence[EvalImage], cfg: EvaluationConfig) -> Sequence[EvalImage]:
    if not images or not any(image.slices for image in images):
        raise InputError("no images to evaluate")
    if not cfg.kinds or not cfg.sigmas:
        raise InputError("evaluation needs at least one noise kind and one sigma")
    for kind in cfg.kinds:
        if kind not in SIGMA_KINDS:
            raise InputError(f"unknown noise kind {kind!r}; valid: {', '.join(SIGMA_KINDS)}")
    for sigma in cfg.sigmas:
        if not (np.isfinite(sigma) and 0 < sigma <= 255):
            raise InputError(f"sigma must be in (0, 255] (0..255 scale), got {sigma}")
    if cfg.max_slices < 1:
        raise InputError(f"max_slices must be at least 1, got {cfg.max_slices}")
    if cfg.crop is not None and cfg.crop < MIN_SIDE:
        raise InputError(f"crop must be at least {MIN_SIDE} pixels (VIFP), got {cfg.crop}")
    return images


def _crops_of(image: EvalImage, cfg: EvaluationConfig) -> list[tuple[int, F32]]:
    out = []
    for k in spread(len(image.slices), cfg.max_slices):
        arr = np.asarray(image.slices[k])
        if arr.ndim != 3 or arr.shape[0] not in (1, 3) or not np.issubdtype(arr.dtype, np.floating):
            raise InputError(f"{image.name}: slice {k} is not a float (C, H, W) array, C 1 or 3")
        h, w = arr.shape[1:]
        if min(h, w) < MIN_SIDE:
            raise InputError(f"{image.name}: slice {k} is {h}x{w}; the metrics need {MIN_SIDE}+")
        side = cfg.crop
        top = (h - side) // 2 if side is not None and h > side else 0
        left = (w - side) // 2 if side is not None and w > side else 0
        rows = slice(top, top + side) if side is not None else slice(None)
        cols = slice(left, left + side) if side is not None else slice(None)
        out.append((k, np.ascontiguousarray(arr[:, rows, cols], dtype=np.float32)))
    return out


def _methods(
    models: Sequence[ModelSpec], cfg: EvaluationConfig
) -> tuple[list[tuple[str, Method]], tuple[str, ...]]:
    methods: list[tuple[str, Method]] = []
    notes: list[str] = []
    for name in cfg.methods:
        reason = baseline_unavailable(name)
        if reason is not None:
            notes.append(f"skipped {reason}")
            continue
        methods.append((name, _baseline(name, cfg.bm3d_true_sigma)))
    for label, spec in models:
        if not label or label in {m for m, _ in methods} or label in cfg.methods:
            raise InputError(f"model label {label!r} is empty or already used")
        run, description = _model(spec, cfg)
        methods.append((label, run))
        notes.append(f"{label}: {description}")
    if not methods:
        raise InputError("no method to evaluate: " + "; ".join(notes))
    return methods, tuple(notes)


def _baseline(name: str, true_sigma: bool) -> Method:
    func = BASELINES[name]

    def run(noisy: F32, kind: str, sigma: float) -> F32:
        known = sigma / 255.0 if name == "bm3d" and true_sigma and kind == "gaussian" else None
        return func(noisy, sigma=known)

    return run


def _model(spec: str | os.PathLike[str] | LoadedModel, cfg: EvaluationConfig) -> tuple[Method, str]:
    from meddenoise.api import LoadedModel, denoise_array, load_model

    loaded = spec if isinstance(spec, LoadedModel) else load_model(spec, device=cfg.device)

    def run(noisy: F32, kind: str, sigma: float) -> F32:
        out: F32 = denoise_array(noisy, model=loaded, precision=cfg.precision, tile=cfg.tile)
        return out

    return run, f"{loaded.name} ({loaded.arch}, sha256 {loaded.short_hash}) on {loaded.device}"


def _channels_last(chw: npt.NDArray[np.floating]) -> F32:
    """``(1, H, W)`` -> ``(H, W)``; ``(3, H, W)`` -> ``(H, W, 3)`` (the baselines' layout)."""
    out = chw[0] if chw.shape[0] == 1 else chw.transpose(1, 2, 0)
    return np.ascontiguousarray(out, dtype=np.float32)


def _channels_first(image: F32) -> F32:
    out: F32 = image[None] if image.ndim == 2 else image.transpose(2, 0, 1)
    return out
