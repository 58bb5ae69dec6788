"""Transfer learning on paired low-dose / full-dose CT: the paper's re-training for LDCT.

Starting from a trained model (the shipped default by default), the same two losses as
training (:func:`meddenoise.train.loop.paper_loss`) are minimised on patches of real
pairs: the low-dose slice is the input, the full-dose slice the target, and their
difference the noise stage I learns to estimate. A lower learning rate and far fewer
steps than training from scratch, optionally with stage I frozen (``freeze="nen"``), so
the model adapts to CT noise texture (soft or sharp kernel) without forgetting.

Validation uses whole blocks of slices held out of training
(:func:`meddenoise.ldct.pairs.split_blocks`): fixed crops where the full-dose image has
structure, scored by PSNR and SSIM in the model's range (the CT window of 4,095 HU) and by
the RMSE in HU. The low-dose input and the starting model are scored on the same crops
before the first step, so every log line says whether fine-tuning helps. Training stops
early after ``patience`` validations without an improvement of ``min_delta`` dB.

A run's folder holds ``last.pt`` (with optimizer and sampler state, for ``resume``),
``best.pt`` (the best validation PSNR) and ``log.jsonl``. Checkpoints record the kernel,
the pairs, the validation slices and the model fine-tuning started from.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from meddenoise.checkpoint import file_digest, load_checkpoint, save_checkpoint
from meddenoise.errors import InputError
from meddenoise.intensity import CT_WINDOW
from meddenoise.ldct.dataset import PairedSeries, PairSampler
from meddenoise.metrics import psnr, ssim
from meddenoise.models.base import Denoiser
from meddenoise.train.loop import StepReport, paper_loss

__all__ = ["KERNELS", "FinetuneConfig", "FinetuneResult", "finetune"]

#: Reconstruction kernels a fine-tuned model is labelled with.
KERNELS = ("soft", "sharp")
_FREEZE = ("none", "nen")
_HU_PER_UNIT = CT_WINDOW[1] - CT_WINDOW[0]


@dataclass(frozen=True)
class FinetuneConfig:
    """What a fine-tuning run computes.

    Attributes
    ----------
    kernel : {"soft", "sharp"}
        Reconstruction kernel of the data (recorded; one model per kernel).
    steps : int
        Most optimizer steps (early stopping may end sooner).
    lr : float
        Adam learning rate, constant (a tenth of training's by default).
    betas : tuple of float
        Adam's betas (the paper's).
    patch, batch : int
        Patch side and patches per step.
    freeze : {"none", "nen"}
        ``nen`` keeps stage I (the noise estimation network) fixed.
    block, val_fraction, guard : int, float, int
        Validation blocks of slices (:func:`meddenoise.ldct.pairs.split_blocks`).
    validate_every : int
        Steps between validations.
    patience : int
        Validations without improvement before stopping.
    min_delta : float
        Improvement of the validation PSNR (dB) that counts.
    checkpoint_every : int
        Steps between ``last.pt`` writes.
    val_crops, val_crop : int
        Crops per validation slice and their side.
    hu_offset : float
        Added to the data's values to get HU (-1000 for HU + 1000 data).
    seed : int
        Seed of patch sampling.
    """

    kernel: str
    steps: int = 600
    lr: float = 5e-5
    betas: tuple[float, float] = (0.9, 0.99)
    patch: int = 64
    batch: int = 16
    freeze: str = "none"
    block: int = 8
    val_fraction: float = 0.2
    guard: int = 1
    validate_every: int = 50
    patience: int = 4
    min_delta: float = 0.01
    checkpoint_every: int = 25
    val_crops: int = 4
    val_crop: int = 128
    hu_offset: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kernel not in KERNELS:
            raise InputError(f"unknown kernel {self.kernel!r}; valid: {', '.join(KERNELS)}")
        if self.freeze not in _FREEZE:
            raise InputError(f"unknown freeze {self.freeze!r}; valid: {', '.join(_FREEZE)}")
        positive = ("steps", "patch", "batch", "block", "validate_every", "patience")
        for name in (*positive, "checkpoint_every", "val_crops", "val_crop"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be at least 1")
        if not self.lr > 0:
            raise InputError("lr must be positive")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints)."""
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown fine-tuning option(s): {', '.join(unknown)}")
        values = dict(data)
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values)


@dataclass(frozen=True)
class FinetuneResult:
    """Where a fine-tuning run stopped and what it measured.

    Attributes
    ----------
    out_dir : Path
        The run's folder.
    steps : int
        Steps done.
    seconds : float
        Wall time of this call.
    best : dict
        Validation scores of ``best.pt`` (empty without validation slices).
    baseline : dict
        The low-dose input's and the starting model's scores on the same crops.
    stopped_early : bool
        Whether early stopping ended the run.
    """

    out_dir: Path
    steps: int
    seconds: float
    best: dict[str, float]
    baseline: dict[str, float]
    stopped_early: bool


@dataclass
class PairValidation:
    """Fixed crops of the held-out slices: ``(low, full)`` pairs, ``(1, S, S)`` in [0, 1]."""

    low: list[np.ndarray]
    full: list[np.ndarray]

    @classmethod
    def build(cls, series: list[PairedSeries], *, crops: int, side: int) -> PairValidation:
        """Take, per validation slice, the ``crops`` windows with most full-dose structure."""
        low: list[np.ndarray] = []
        full: list[np.ndarray] = []
        for s in series:
            for k in s.validation:
                for y, x, h, w in _structured_windows(s.full[k], crops, side):
                    low.append(s.low[k, y : y + h, x : x + w][None].copy())
                    full.append(s.full[k, y : y + h, x : x + w][None].copy())
        return cls(low, full)

    def __len__(self) -> int:
        return len(self.low)

    def score(self, model: Denoiser | None) -> dict[str, float]:
        """PSNR, SSIM and RMSE (HU) of the model's output (``None``: of the low-dose input)."""
        scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "rmse_hu": []}
        was_training = model.training if model is not None else False
        if model is not None:
            model.eval()
        with torch.inference_mode():
            for low, full in zip(self.low, self.full, strict=True):
                if model is None:
                    out = low
                else:
                    x = torch.from_numpy(np.repeat(low, 3, axis=0))[None]
                    y = model(x).clean.float().clamp(0, 1)[0].mean(dim=0, keepdim=True)
                    out = y.numpy()
                scores["psnr"].append(psnr(full, out))
                scores["ssim"].append(ssim(full, out) if min(full.shape[1:]) >= 7 else np.nan)
                rmse = float(np.sqrt(np.mean((out.astype(np.float64) - full) ** 2)))
                scores["rmse_hu"].append(rmse * _HU_PER_UNIT)
        if model is not None:
            model.train(was_training)
        return {key: float(np.nanmean(values)) for key, values in scores.items()}


def _structured_windows(
    image: np.ndarray, count: int, side: int
) -> list[tuple[int, int, int, int]]:
    height, width = image.shape
    h, w = min(side, height), min(side, width)
    step_y, step_x = max(1, h // 2), max(1, w // 2)
    candidates = [
        (float(image[y : y + h, x : x + w].std()), y, x)
        for y in range(0, height - h + 1, step_y)
        for x in range(0, width - w + 1, step_x)
    ]
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    chosen: list[tuple[int, int, int, int]] = []
    for _, y, x in candidates:
        if all(abs(y - cy) >= h or abs(x - cx) >= w for cy, cx, _, _ in chosen):
            chosen.append((y, x, h, w))
        if len(chosen) == count:
            break
    return chosen


def resolve_start(start: str | os.PathLike[str]) -> Path:
    """Return the checkpoint file of ``start``: ``"default"`` or a path."""
    if str(start) == "default":
        from meddenoise.api import default_model_path

        return default_model_path()
    path = Path(start)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file")
    return path


def finetune(
    series: list[PairedSeries],
    out_dir: str | Path,
    config: FinetuneConfig,
    *,
    start: str | os.PathLike[str] = "default",
    resume: bool = False,
    on_step: Callable[[StepReport], None] | None = None,
    max_seconds: float | None = None,
) -> FinetuneResult:
    """Fine-tune a model on paired low-dose / full-dose slices.

    Parameters
    ----------
    series : list of PairedSeries
        The pairs (:func:`meddenoise.ldct.dataset.load_pair`), their split made.
    out_dir : path-like
        The run's folder (created); without ``resume`` it must not hold a run.
    config : FinetuneConfig
        How to fine-tune.
    start : str or path-like
        ``"default"`` or a checkpoint to start from (ignored when resuming: the run's own
        checkpoint records it).
    resume : bool
        Continue from ``out_dir/last.pt`` (same options and data, ``steps`` may grow).
    on_step : callable, optional
        Called after every step with a :class:`~meddenoise.train.loop.StepReport`.
    max_seconds : float, optional
        Stop with a checkpoint after this much wall time.

    Returns
    -------
    FinetuneResult

    Raises
    ------
    InputError
        For a bad start model, a folder that holds a run (or none to resume), or
        options that differ from the run being resumed.
    """
    out = Path(out_dir)
    last = out / "last.pt"
    if resume and not last.is_file():
        raise InputError(f"{out}: nothing to resume (no last.pt)")
    if not resume and last.exists():
        raise InputError(f"{out}: holds a run already (use resume, or another folder)")
    if not series:
        raise InputError("no low-dose / full-dose pairs given")

    start_path = last if resume else resolve_start(start)
    parent = load_checkpoint(start_path)
    if parent.normalization.get("mappings", {}).get("ct", "ct") != "ct":
        raise InputError(f"{start_path}: the model was not trained with the CT HU window")
    model = parent.build()
    if config.freeze == "nen":
        if parent.arch != "two_stage":
            raise InputError(f"--freeze nen needs a two_stage model, not {parent.arch}")
        stage_one = model.get_submodule("nen")
        for param in stage_one.parameters():
            param.requires_grad_(False)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=config.lr, betas=config.betas)
    sampler = PairSampler(series, patch=config.patch, batch=config.batch, seed=config.seed)
    validation = PairValidation.build(series, crops=config.val_crops, side=config.val_crop)
    described = [s.describe() for s in series]

    step, best, bad = 0, {}, 0
    if resume:
        raw = torch.load(last, map_location="cpu", weights_only=True)
        record = parent.training.get("finetune", {})
        _check_same(last, parent.training, config, described)
        optimizer.load_state_dict(raw["optimizer"])
        sampler.set_state(raw["sampler"])
        state = raw["resume"]
        step, best, bad = int(state["step"]), dict(state["best"]), int(state["bad"])
        origin = dict(record["from"])
        baseline = dict(record["baseline"])
        inherited = dict(parent.training.get("parent", {}))
    else:
        origin = {
            "model": str(start),
            "file": start_path.name,
            "sha256": file_digest(start_path),
            "steps": parent.training.get("steps"),
        }
        baseline = {}
        if len(validation):
            low = validation.score(None)
            started = validation.score(model)
            baseline = {f"low_{k}": v for k, v in low.items()}
            baseline.update({f"start_{k}": v for k, v in started.items()})
        inherited = {k: parent.training[k] for k in ("config", "steps") if k in parent.training}
        out.mkdir(parents=True, exist_ok=True)
        _log(out / "log.jsonl", {"step": 0, **baseline})

    def save(path: Path, metrics: dict[str, float], *, full: bool) -> None:
        extra: dict[str, Any] = {}
        if full:
            extra = {
                "optimizer": optimizer.state_dict(),
                "sampler": sampler.state(),
                "resume": {"step": step, "best": best, "bad": bad},
            }
        save_checkpoint(
            path,
            model,
            normalization=parent.normalization,
            training={
                "finetune": {
                    "kernel": config.kernel,
                    "freeze": config.freeze,
                    "from": origin,
                    "pairs": described,
                    "hu_offset": config.hu_offset,
                    "baseline": baseline,
                },
                "config": config.to_dict(),
                "steps": step,
                "noise": f"paired low-dose CT, {config.kernel} kernel",
                "data": [s.name for s in series],
                "parent": inherited,
            },
            metrics=metrics,
            extra=extra,
        )

    began = time.perf_counter()
    stopped_early = False
    while step < config.steps:
        tick = time.perf_counter()
        clean_np, noisy_np = sampler.sample()
        clean = torch.from_numpy(clean_np).contiguous(memory_format=torch.channels_last)
        noisy = torch.from_numpy(noisy_np).contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        loss = paper_loss(model, parent.arch, clean, noisy)
        loss.backward()  # type: ignore[no-untyped-call]  # torch stubs
        optimizer.step()
        step += 1
        scores: dict[str, float] | None = None
        if len(validation) and (step % config.validate_every == 0 or step == config.steps):
            scores = validation.score(model)
            _log(out / "log.jsonl", {"step": step, "loss": float(loss.detach()), **scores})
            if not best or scores["psnr"] > best["psnr"] + config.min_delta:
                best, bad = scores, 0
                save(out / "best.pt", scores, full=False)
            else:
                bad += 1
                stopped_early = bad >= config.patience
        timed_out = max_seconds is not None and time.perf_counter() - began > max_seconds
        finished = step == config.steps or stopped_early or timed_out
        if step % config.checkpoint_every == 0 or finished:
            save(last, scores or {}, full=True)
        if on_step is not None:
            rate = config.batch / max(time.perf_counter() - tick, 1e-9)
            on_step(StepReport(step, config.steps, float(loss.detach()), rate, scores))
        if stopped_early or timed_out:
            break
    if not len(validation):
        save(out / "best.pt", {}, full=False)
    return FinetuneResult(out, step, time.perf_counter() - began, best, baseline, stopped_early)


def _check_same(
    path: Path, training: dict[str, Any], config: FinetuneConfig, pairs: list[dict[str, Any]]
) -> None:
    saved = dict(training.get("config", {}))
    mine = config.to_dict()
    saved.pop("steps", None)
    mine.pop("steps", None)
    changed = sorted(k for k in mine if saved.get(k) != mine.get(k))
    if changed:
        raise InputError(f"{path}: the run was made with other options ({', '.join(changed)})")
    keys = ("name", "slices", "validation_slices")
    recorded = training.get("finetune", {}).get("pairs", [])
    if [{k: p.get(k) for k in keys} for p in recorded] != [{k: p[k] for k in keys} for p in pairs]:
        raise InputError(f"{path}: the run was made with other low-dose / full-dose data")


def _log(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
