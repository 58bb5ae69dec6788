"""The training loop: Algorithm 1 patches, the paper's two losses, Adam, checkpoints, resume.

Losses (DESIGN.md section 3): stage I's estimated noise against the true perturbation
``noisy - clean`` by MSE, the output image against the clean image by L1 (or by MSE,
``image_loss = "mse"``, the error PSNR measures); the ``nen`` variant has only the first.
A run writes into its folder:

- ``last.pt``: the latest checkpoint, with the optimizer and sampler state for
  ``resume`` (every ``checkpoint_every`` steps and at the end);
- ``best.pt``: the checkpoint with the best mean validation PSNR so far;
- ``log.jsonl``: one line per validation.

Checkpoints are written atomically, so a run killed at any moment resumes from its last
checkpoint and draws the same patches the uninterrupted run would have: batch ``k`` depends
only on the seed and ``k`` (:meth:`PatchSampler.sample_at`), whichever process draws it.
With ``workers`` > 0, batches are drawn ahead by that many worker processes, which keeps a
GPU busy; the result is the same as with none. With
``torch.distributed`` initialised (``torchrun``), gradients are averaged across
processes (DistributedDataParallel), each process draws its own patches, and only rank 0
writes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from meddenoise.checkpoint import Checkpoint, file_digest, load_checkpoint, save_checkpoint
from meddenoise.errors import InputError
from meddenoise.metrics import psnr
from meddenoise.models import build_model
from meddenoise.models.base import Denoiser
from meddenoise.models.two_stage import WIRING_KEYS, TwoStageDenoiser
from meddenoise.noise import add_noise
from meddenoise.train.config import TrainConfig
from meddenoise.train.images import TrainingImage, load_images
from meddenoise.train.patches import PatchSampler
from meddenoise.train.split import load_split

__all__ = ["StepReport", "TrainResult", "ValidationSet", "paper_loss", "train"]

#: ``on_step(report)`` after every optimizer step.
StepCallback = Callable[["StepReport"], None]


@dataclass(frozen=True)
class StepReport:
    """Progress of a run after one step."""

    step: int
    steps: int
    loss: float
    patches_per_second: float
    validation: dict[str, float] | None = None


@dataclass(frozen=True)
class TrainResult:
    """Where a finished (or stopped) run left its files."""

    out_dir: Path
    steps: int
    seconds: float
    best_psnr: float | None


@dataclass
class ValidationSet:
    """Fixed, seeded noisy crops per family: the same numbers on every validation."""

    clean: dict[str, list[np.ndarray]]
    noisy: dict[str, list[np.ndarray]]

    @classmethod
    def build(cls, images: list[TrainingImage], config: TrainConfig) -> ValidationSet:
        """Take ``val_crops`` centre-ish crops per family and noise them with fixed seeds."""
        rng = np.random.default_rng(config.seed + 1_000_003)
        clean: dict[str, list[np.ndarray]] = {}
        noisy: dict[str, list[np.ndarray]] = {}
        for family in sorted({image.family for image in images}):
            pool = [(i, s) for i in images if i.family == family for s in i.slices]
            for _ in range(config.val_crops):
                _, chunk = pool[int(rng.integers(len(pool)))]
                crop = _crop(chunk, config.val_crop, rng)
                for sigma in config.val_sigmas:
                    for kind in ("gaussian", "speckle"):
                        seed = int(rng.integers(2**31))
                        clean.setdefault(family, []).append(crop)
                        noisy.setdefault(family, []).append(add_noise(crop, kind, sigma, rng=seed))
        return cls(clean, noisy)

    def evaluate(self, model: Denoiser, *, precision: str) -> dict[str, float]:
        """Mean PSNR per family of the model's output, and of the noisy input."""
        device = next(model.parameters()).device
        result: dict[str, float] = {}
        was_training = model.training
        model.eval()
        with torch.inference_mode():
            for family, crops in self.noisy.items():
                scores, baseline = [], []
                for clean, noisy in zip(self.clean[family], crops, strict=True):
                    x = torch.from_numpy(np.repeat(noisy, 3 // noisy.shape[0], axis=0))[None]
                    with torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16"):
                        out = model(x.to(device)).clean.float().clamp(0, 1)[0].cpu().numpy()
                    if clean.shape[0] == 1:
                        out = out.mean(axis=0, keepdims=True)
                    scores.append(psnr(clean, out))
                    baseline.append(psnr(clean, noisy))
                result[family] = float(np.mean(scores))
                result[f"{family}_noisy"] = float(np.mean(baseline))
        model.train(was_training)
        families = [k for k in result if not k.endswith("_noisy")]
        result["mean"] = float(np.mean([result[f] for f in families]))
        return result


def _crop(chunk: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    _, height, width = chunk.shape
    h, w = min(side, height), min(side, width)
    y = int(rng.integers(height - h + 1))
    x = int(rng.integers(width - w + 1))
    return np.ascontiguousarray(chunk[:, y : y + h, x : x + w])


def _learning_rate(config: TrainConfig, step: int) -> float:
    if config.schedule == "constant":
        return config.lr
    progress = min(step / config.steps, 1.0)
    floor = config.lr * config.min_lr_ratio
    return floor + (config.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _rank_and_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _agree(flag: bool) -> bool:
    """Make a stop decision shared: true on every process when true on any."""
    rank_world = _rank_and_world()
    if rank_world[1] == 1:
        return flag
    import torch.distributed as dist

    value = torch.tensor([1 if flag else 0])
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def paper_loss(
    model: nn.Module,
    arch: str,
    clean: torch.Tensor,
    noisy: torch.Tensor,
    *,
    image_loss: str = "l1",
) -> torch.Tensor:
    """Compute the paper's loss: MSE of the estimated noise plus L1 (or MSE) of the output.

    Parameters
    ----------
    model : nn.Module
        A denoiser (or its DistributedDataParallel wrapper).
    arch : str
        Its architecture; ``nen`` has only the noise term.
    clean, noisy : Tensor
        ``(B, 3, H, W)`` targets and inputs in [0, 1].
    image_loss : {"l1", "mse"}
        Loss of the output image: the paper's L1, or MSE.

    Returns
    -------
    Tensor
        The scalar loss.

    Raises
    ------
    ValueError
        For another ``image_loss``.
    """
    out = model(noisy)
    noise_loss = nn.functional.mse_loss(out.noise.float(), noisy - clean)
    if arch == "nen":
        return noise_loss
    if image_loss == "l1":
        return noise_loss + nn.functional.l1_loss(out.clean.float(), clean)
    if image_loss == "mse":
        return noise_loss + nn.functional.mse_loss(out.clean.float(), clean)
    raise ValueError(f"image_loss must be 'l1' or 'mse', not {image_loss!r}")


def train(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    images: tuple[list[TrainingImage], list[TrainingImage]] | None = None,
    on_step: StepCallback | None = None,
    max_seconds: float | None = None,
    device: str | torch.device = "cpu",
    workers: int = 0,
    validation: ValidationSet | None = None,
) -> TrainResult:
    """Train a model as configured, writing checkpoints into ``out_dir``.

    Parameters
    ----------
    config : TrainConfig
        What to train and how.
    out_dir : path-like
        The run's folder (created). Without ``resume`` it must not hold a run already.
    resume : bool
        Continue from ``out_dir/last.pt`` (same configuration required but ``steps``).
    images : tuple of lists, optional
        ``(train, validation)`` images, instead of reading ``config.split``.
    on_step : callable, optional
        Called after every step with a :class:`StepReport`.
    max_seconds : float, optional
        Stop (with a checkpoint) after this much wall time: for runs that must end with
        a session and go on in the next one.
    device : str or torch.device
        Where to train (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``); checkpoints are
        saved with CPU tensors either way.
    workers : int
        Worker processes that draw batches ahead (0: draw them in this process).
    validation : ValidationSet, optional
        A prepared validation set, instead of building one from the validation images.

    Returns
    -------
    TrainResult
    """
    rank, world = _rank_and_world()
    out = Path(out_dir)
    last = out / "last.pt"
    if resume and not last.is_file():
        raise InputError(f"{out}: nothing to resume (no last.pt)")
    if not resume and last.exists():
        raise InputError(f"{out}: holds a run already (use resume, or another folder)")
    # A bad model option or unreadable data is refused before the run folder exists.
    torch.manual_seed(config.seed)
    model = build_model(config.arch, **config.model)
    train_images, val_images = images if images is not None else _read_images(config)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    device = torch.device(device)
    model = model.to(device)
    model.train()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if config.freeze_nen:
        model.nen.requires_grad_(False)
    learnt = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(learnt, lr=config.lr, betas=config.betas)
    sampler = PatchSampler(
        train_images,
        patch=config.patch,
        batch=config.batch,
        sigma_max=config.sigma_max,
        seed=config.seed + 7919 * rank,
        weights=config.family_weights,
        grey_noise=config.grey_noise,
        clean_fraction=config.clean_fraction,
        downscale_fraction=config.downscale_fraction,
        downscale_max=config.downscale_max,
    )
    step = 0
    best: float | None = None
    origins = _initialise(model, config) if not resume else {}
    if resume:
        step, best, origins = _restore(last, config, model, optimizer)
    trained: nn.Module = model
    if world > 1:
        ids = [device.index or 0] if device.type == "cuda" else None
        trained = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if validation is None and rank == 0:
        validation = ValidationSet.build(val_images, config)
    normalization = {"contract": "meddenoise.intensity", "mappings": _mappings(train_images)}

    def save(path: Path, metrics: dict[str, float] | None = None, *, full: bool) -> None:
        extra: dict[str, Any] = {}
        if full:
            extra = {
                "optimizer": _to_cpu(optimizer.state_dict()),
                "resume": {"step": step, "best": best},
            }
        save_checkpoint(
            path,
            model,
            normalization=normalization,
            training={
                "config": config.to_dict(),
                "steps": step,
                "noise": _noise_description(config),
                "data": [str(i.item.path.name) for i in train_images],
                "processes": world,
                **origins,
            },
            metrics=metrics or {},
            extra=extra,
        )

    started = time.perf_counter()
    saved = step
    try:
        batches = _batches(sampler, step, config.steps, workers, pin=device.type == "cuda")
        tick = time.perf_counter()
        for clean_cpu, noisy_cpu in batches:
            clean = clean_cpu.to(device, non_blocking=True)
            noisy = noisy_cpu.to(device, non_blocking=True)
            clean = clean.contiguous(memory_format=torch.channels_last)
            noisy = noisy.contiguous(memory_format=torch.channels_last)
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(config, step)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, torch.bfloat16, enabled=config.precision == "bf16"):
                loss = paper_loss(trained, config.arch, clean, noisy, image_loss=config.image_loss)
            loss.backward()  # type: ignore[no-untyped-call]  # torch stubs
            optimizer.step()
            step += 1
            scores = None
            elapsed = time.perf_counter() - started
            timed_out = _agree(max_seconds is not None and elapsed > max_seconds)
            if rank == 0 and validation is not None:
                if step % config.validate_every == 0 or step == config.steps:
                    scores = validation.evaluate(model, precision=config.precision)
                    _log(out / "log.jsonl", {"step": step, "loss": float(loss.detach()), **scores})
                    if best is None or scores["mean"] > best:
                        best = scores["mean"]
                        save(out / "best.pt", scores, full=False)
                if step % config.checkpoint_every == 0 or step == config.steps or timed_out:
                    save(last, scores, full=True)
                    saved = step
            if on_step is not None:
                rate = config.batch * world / max(time.perf_counter() - tick, 1e-9)
                on_step(StepReport(step, config.steps, float(loss.detach()), rate, scores))
            tick = time.perf_counter()
            if timed_out:
                break
    except KeyboardInterrupt:
        # Interrupted (Ctrl-C, SIGINT): keep what was trained since the last checkpoint.
        if rank == 0 and step > saved:
            save(last, None, full=True)
        raise
    return TrainResult(out, step, time.perf_counter() - started, best)


class _BatchStream(torch.utils.data.IterableDataset[tuple[torch.Tensor, torch.Tensor]]):
    """Batches ``start .. stop - 1`` of a sampler; worker ``w`` of ``n`` draws ``w, w+n..``."""

    def __init__(self, sampler: PatchSampler, start: int, stop: int) -> None:
        self.sampler, self.start, self.stop = sampler, start, stop

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        first, stride = (info.id, info.num_workers) if info is not None else (0, 1)
        for index in range(self.start + first, self.stop, stride):
            clean, noisy = self.sampler.sample_at(index)
            yield torch.from_numpy(clean), torch.from_numpy(noisy)


def _batches(
    sampler: PatchSampler, start: int, stop: int, workers: int, *, pin: bool
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield batches ``start .. stop - 1`` in order, drawn ahead by ``workers`` processes."""
    stream = _BatchStream(sampler, start, stop)
    if workers <= 0:
        return iter(stream)
    # The DataLoader asks its workers in turn, so batches come back in index order.
    loader = torch.utils.data.DataLoader(
        stream, batch_size=None, num_workers=workers, pin_memory=pin, prefetch_factor=8
    )
    return iter(loader)


def _to_cpu(value: Any) -> Any:
    """Return ``value`` (nested dicts and lists of tensors) with every tensor on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value


def _read_images(config: TrainConfig) -> tuple[list[TrainingImage], list[TrainingImage]]:
    items = load_split(config.split)
    kwargs: dict[str, Any] = {"families": config.families, "max_slices": config.max_slices}
    return (
        load_images(items, split="train", **kwargs),
        load_images(items, split="validation", **kwargs),
    )


def _noise_description(config: TrainConfig) -> str:
    text = "Algorithm 1: sigma ~ U(0, sigma_max), gaussian or speckle, clipped"
    if config.clean_fraction:
        text += f"; {config.clean_fraction:g} of patches noise-free"
    return text


def _mappings(images: list[TrainingImage]) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for image in images:
        kinds.setdefault(image.family, image.mapping.get("kind"))
    return kinds


#: Options a resumed run may change: they decide when things happen, not what is learnt
#: (``steps`` stretches or shortens the learning-rate schedule from the current step on).
_RESUMABLE = ("steps", "checkpoint_every", "validate_every")
_DEFAULTS = {
    "family_weights": {},
    "init": "",
    "init_nen": "",
    "freeze_nen": False,
    "grey_noise": "per_channel",
    "clean_fraction": 0.0,
    "image_loss": "l1",
}
#: Checkpoint records of the files a run started from.
_ORIGINS = ("init_sha256", "init_nen_sha256")


def _initialise(model: Denoiser, config: TrainConfig) -> dict[str, str]:
    """Load ``config.init`` and ``config.init_nen``; return their sha256 by record name."""
    from meddenoise.api import default_model_path

    origins: dict[str, str] = {}
    if config.init:
        path = default_model_path() if config.init == "default" else Path(config.init)
        model.load_state_dict(_matching(path, "init", model).state_dict)
        origins["init_sha256"] = file_digest(path)
    if config.init_nen:
        assert isinstance(model, TwoStageDenoiser)  # TrainConfig allows no other arch
        path = Path(config.init_nen)
        model.nen.load_state_dict(_matching(path, "init_nen", model.nen).state_dict)
        # A zero stage II output: the model starts out as this NEN alone, exactly.
        with torch.no_grad():
            model.rn.tail.weight.zero_()
        origins["init_nen_sha256"] = file_digest(path)
    return origins


def _matching(path: Path, key: str, model: Denoiser) -> Checkpoint:
    """Load a checkpoint that holds ``model``'s architecture and configuration.

    The wiring of the stages (``stage_two_input``) may differ: the weights are the same.
    """
    ckpt = load_checkpoint(path)
    if ckpt.arch != model.arch or _weights_config(ckpt.config) != _weights_config(model.config):
        raise InputError(
            f"{path}: {key} holds a {ckpt.arch} model of another configuration; "
            f"this run needs {model.arch} {model.config}"
        )
    return ckpt


def _weights_config(config: dict[str, Any]) -> dict[str, Any]:
    """Return a model configuration without the keys that do not change its weights."""
    return {k: v for k, v in config.items() if k not in WIRING_KEYS}


def _restore(
    path: Path,
    config: TrainConfig,
    model: Denoiser,
    optimizer: torch.optim.Optimizer,
) -> tuple[int, float | None, dict[str, str]]:
    """Load a run's last state; return its step, best score and origin records."""
    ckpt = load_checkpoint(path)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    # Options added after a run started were at their defaults in it.
    saved = {**_DEFAULTS, **ckpt.training.get("config", {})}
    mine = config.to_dict()
    for name in _RESUMABLE:
        saved.pop(name, None)
        mine.pop(name, None)
    if saved != mine:
        changed = sorted(k for k in mine if saved.get(k) != mine.get(k))
        raise InputError(f"{path}: the run was made with other options ({', '.join(changed)})")
    model.load_state_dict(ckpt.state_dict)
    optimizer.load_state_dict(raw["optimizer"])
    origins = {k: str(ckpt.training[k]) for k in _ORIGINS if ckpt.training.get(k)}
    return int(raw["resume"]["step"]), raw["resume"].get("best"), origins


def _log(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
