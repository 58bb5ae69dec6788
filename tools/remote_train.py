r"""Train on a machine that has a GPU but not the data: pack the images here, train there.

The training images of a split (as :func:`meddenoise.train.images.load_images` maps them
to [0, 1]) are packed into one ``.npz`` file (16-bit quantised, ~1.5e-5 steps), which
travels with the checkout to a GPU machine that needs neither the data nor the DICOM
readers; there ``run`` trains exactly as ``meddenoise train`` would.

    python tools/remote_train.py pack --config configs/default_train.toml --out .gpu/images.npz
    python tools/remote_train.py run --config configs/default_train.toml \
        --images .gpu/images.npz --out runs/default --resume --device cuda --workers 8
    python tools/remote_train.py session --images .gpu/images.npz --start training/default \
        --out OUT --seconds 500

``session`` is the one-command plan used on a lent GPU (docs/model_card.md): it continues
the default run from ``--start`` to its configured end while the NEN ablation trains from
scratch beside it on the same GPU, then spends the time left on a longer schedule
(a warm restart of the cosine schedule from the finished default run), copying each
result into ``--out`` as soon as it exists.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meddenoise.train.config import load_config  # noqa: E402
from meddenoise.train.images import TrainingImage  # noqa: E402
from meddenoise.train.split import SplitItem  # noqa: E402

#: Side of the regions kept of large training slices, and how many per slice and family:
#: what fits the 64 MiB a device call carries (about 30 MB packed).
REGION = 128
REGIONS = {"dermoscopy": 2, "ct": 4, "microscopy": 8, "xray": 64, "mri": 4}


def _quantise(chunk: np.ndarray, levels: float) -> tuple[np.ndarray, float]:
    """Store ``chunk`` exactly as integers when it is ``k / levels``, else in 16 bits."""
    scaled = chunk * levels
    if levels <= 65535 and float(np.abs(scaled - np.round(scaled)).max()) < 1e-3:
        dtype = np.uint8 if levels <= 255 else np.uint16
        return np.round(scaled).astype(dtype), levels
    return np.clip(np.round(chunk * 65535.0), 0, 65535).astype(np.uint16), 65535.0


def _regions(chunk: np.ndarray, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    _, height, width = chunk.shape
    if height <= REGION * 1.5 and width <= REGION * 1.5:
        return [chunk]
    out = []
    for _ in range(count):
        y = int(rng.integers(max(1, height - REGION + 1)))
        x = int(rng.integers(max(1, width - REGION + 1)))
        out.append(chunk[:, y : y + REGION, x : x + REGION])
    return out


def pack(config_path: Path, out: Path) -> None:
    """Save the configured split's training regions and its validation set to ``out``.

    Training slices larger than 1.5 x REGION are cut into ``REGIONS[family]`` seeded
    random REGION x REGION regions (the sampler then crops patches inside them); the
    validation set is built here exactly as ``meddenoise train`` builds it and saved as
    its clean and noisy crops. Values are stored exactly where the slice holds
    ``k / levels`` (8-bit photographs, integer HU), else quantised to 16 bits.
    """
    from meddenoise.train.loop import ValidationSet, _read_images

    config = load_config(config_path)
    train, validation = _read_images(config)
    rng = np.random.default_rng(config.seed + 424242)
    arrays: dict[str, np.ndarray] = {}
    meta: list[dict[str, Any]] = []
    for n, image in enumerate(train):
        item = image.item
        mapping = image.mapping
        levels = float(mapping["high"]) - float(mapping["low"])  # type: ignore[arg-type]
        stored = 0
        scales = []
        for chunk in image.slices:
            for region in _regions(chunk, REGIONS.get(image.family, 4), rng):
                q, scale = _quantise(np.ascontiguousarray(region), levels)
                arrays[f"i{n}_s{stored}"] = q
                scales.append(scale)
                stored += 1
        meta.append(
            {
                "path": str(item.path),
                "modality": item.modality,
                "family": item.family,
                "split": item.split,
                "group": item.group,
                "mapping": mapping,
                "slices": stored,
                "scales": scales,
            }
        )
    val = ValidationSet.build(validation, config)
    for family in val.clean:
        for k, (clean, noisy) in enumerate(zip(val.clean[family], val.noisy[family], strict=True)):
            arrays[f"val_clean_{family}_{k}"] = clean
            arrays[f"val_noisy_{family}_{k}"] = noisy
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays["meta"] = np.array(json.dumps(meta))
    arrays["families"] = np.array(json.dumps(sorted(val.clean)))
    np.savez_compressed(out, allow_pickle=False, **arrays)
    print(
        f"{out}: {len(train)} train images as {sum(m['slices'] for m in meta)} slices or "
        f"regions, validation set of {sum(len(v) for v in val.clean.values())} crops, "
        f"{out.stat().st_size / 1e6:.1f} MB"
    )


def unpack(path: Path) -> tuple[list[TrainingImage], Any]:
    """Return the training images and the validation set saved by :func:`pack`."""
    from meddenoise.train.loop import ValidationSet

    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        train: list[TrainingImage] = []
        for n, m in enumerate(meta):
            item = SplitItem(Path(m["path"]), m["modality"], m["family"], m["split"], m["group"])
            slices = [
                data[f"i{n}_s{k}"].astype(np.float32) / np.float32(m["scales"][k])
                for k in range(m["slices"])
            ]
            train.append(TrainingImage(item=item, slices=slices, mapping=m["mapping"]))
        families = json.loads(str(data["families"]))
        clean: dict[str, list[np.ndarray]] = {f: [] for f in families}
        noisy: dict[str, list[np.ndarray]] = {f: [] for f in families}
        for f in families:
            while f"val_clean_{f}_{len(clean[f])}" in data:
                clean[f].append(data[f"val_clean_{f}_{len(clean[f])}"])
                noisy[f].append(data[f"val_noisy_{f}_{len(noisy[f])}"])
    return train, ValidationSet(clean, noisy)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train one configuration on packed images; return a summary."""
    import torch

    from meddenoise.device import resolve_device
    from meddenoise.train.loop import StepReport, train

    overrides = {
        k: v
        for k, v in (
            ("steps", args.steps),
            ("checkpoint_every", args.checkpoint_every),
            ("validate_every", args.validate_every),
        )
        if v
    }
    config = load_config(args.config, **overrides)
    images, validation = unpack(args.images)
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    tag = args.tag or config.arch

    def on_step(report: StepReport) -> None:
        if report.validation or report.step % 500 == 0:
            extra = f" val {report.validation['mean']:.2f}" if report.validation else ""
            print(
                f"[{tag}] step {report.step}/{report.steps} loss {report.loss:.5f} "
                f"{report.patches_per_second:.0f} patches/s "
                f"{time.perf_counter() - started:.0f}s{extra}",
                flush=True,
            )

    result = train(
        config,
        args.out,
        resume=args.resume,
        images=(images, []),
        validation=validation,
        on_step=on_step,
        max_seconds=args.seconds,
        device=device,
        workers=args.workers,
    )
    summary = {
        "tag": tag,
        "steps": result.steps,
        "config_steps": config.steps,
        "seconds": round(result.seconds, 1),
        "best": result.best_psnr,
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }
    print(json.dumps(summary), flush=True)
    return summary


def validate(args: argparse.Namespace) -> None:
    """Score checkpoints on the packed validation set in each precision, with timings."""
    import torch

    from meddenoise.checkpoint import load_checkpoint
    from meddenoise.device import resolve_device

    _, validation = unpack(args.images)
    device = resolve_device(args.device)
    for path in args.models:
        model = load_checkpoint(path).build().to(device)
        for precision in args.precisions.split(","):
            validation.evaluate(model, precision=precision)  # warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            tick = time.perf_counter()
            scores = validation.evaluate(model, precision=precision)
            seconds = time.perf_counter() - tick
            row = {k: round(v, 3) for k, v in scores.items() if not k.endswith("_noisy")}
            print(
                json.dumps(
                    {
                        "model": Path(path).name,
                        "precision": precision,
                        "seconds": round(seconds, 3),
                        **row,
                    }
                ),
                flush=True,
            )


def _copy(run_dir: Path, out: Path, prefix: str, last: bool = False) -> None:
    for name in ("best.pt", "log.jsonl") + (("last.pt",) if last else ()):
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, out / f"{prefix}_{name}")


def _args(**kw: Any) -> argparse.Namespace:
    base = {
        "steps": None,
        "checkpoint_every": None,
        "validate_every": None,
        "resume": False,
        "seconds": None,
        "device": "cuda",
        "workers": 8,
        "threads": 4,
        "tag": None,
    }
    base.update(kw)
    return argparse.Namespace(**base)


def session(args: argparse.Namespace) -> None:
    """Run the lent-GPU plan: finish the default run with NEN beside it, then a longer run."""
    t0 = time.perf_counter()
    out: Path = args.out
    work: Path = args.work
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    default = work / "default"
    shutil.copytree(args.start, default, dirs_exist_ok=True)
    nen = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "run",
            "--config",
            str(ROOT / "configs/ablation_nen.toml"),
            "--images",
            str(args.images),
            "--out",
            str(work / "nen"),
            "--device",
            args.device,
            "--workers",
            "4",
            "--threads",
            "2",
            "--checkpoint-every",
            "1000",
            "--seconds",
            str(args.seconds - 60),
            "--tag",
            "nen",
        ]
        + (["--steps", str(args.end_steps)] if args.end_steps else []),
    )
    budget = args.seconds
    a = run(
        _args(
            config=ROOT / "configs/default_train.toml",
            images=args.images,
            out=default,
            resume=True,
            checkpoint_every=1000,
            seconds=budget - 60,
            tag="default",
            workers=args.workers,
            device=args.device,
            steps=args.end_steps,
        )
    )
    _copy(default, out, "default")
    summaries = [a]
    left = budget - (time.perf_counter() - t0) - 45
    done = a["steps"] == a["config_steps"]
    if done and left > 30:
        start_step = a["steps"]
        rate = (start_step - args.start_step) / max(a["seconds"], 1.0)
        extra = int(left * rate * 0.85) // 100 * 100
        if extra >= args.min_extra:
            long = work / "long"
            shutil.copytree(default, long)
            b = run(
                _args(
                    config=ROOT / "configs/default_train.toml",
                    images=args.images,
                    out=long,
                    resume=True,
                    steps=start_step + extra,
                    checkpoint_every=2000,
                    validate_every=1000,
                    seconds=left,
                    tag="long",
                    workers=args.workers,
                    device=args.device,
                )
            )
            _copy(long, out, "long", last=True)
            summaries.append(b)
    if len(summaries) == 1:  # no longer run: keep the default run's resume state instead
        _copy(default, out, "default", last=True)
    try:
        nen.wait(timeout=max(5.0, budget + 30 - (time.perf_counter() - t0)))
    except subprocess.TimeoutExpired:
        nen.terminate()
        nen.wait(timeout=20)
    _copy(work / "nen", out, "nen")
    (out / "summary.json").write_text(
        json.dumps(
            {
                "runs": summaries,
                "nen_exit": nen.returncode,
                "seconds": round(time.perf_counter() - t0, 1),
            },
            indent=1,
        )
    )
    print(f"session done in {time.perf_counter() - t0:.0f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run")
    r.add_argument("--config", type=Path, required=True)
    r.add_argument("--images", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--resume", action="store_true")
    r.add_argument("--steps", type=int)
    r.add_argument("--checkpoint-every", type=int)
    r.add_argument("--validate-every", type=int)
    r.add_argument("--seconds", type=float)
    r.add_argument("--device", default="cuda")
    r.add_argument("--workers", type=int, default=8)
    r.add_argument("--threads", type=int, default=4)
    r.add_argument("--tag")
    s = sub.add_parser("session")
    s.add_argument("--images", type=Path, required=True)
    s.add_argument("--start", type=Path, required=True)
    s.add_argument("--start-step", type=int, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--work", type=Path, default=Path("/tmp/meddenoise-train"))
    s.add_argument("--seconds", type=float, default=500)
    s.add_argument("--workers", type=int, default=10)
    s.add_argument("--device", default="cuda")
    s.add_argument("--end-steps", type=int, help="Override the default run's steps (tests).")
    s.add_argument("--min-extra", type=int, default=500)
    v = sub.add_parser("validate")
    v.add_argument("--images", type=Path, required=True)
    v.add_argument("--device", default="cuda")
    v.add_argument("--precisions", default="fp32,bf16")
    v.add_argument("models", nargs="+", type=Path)
    args = parser.parse_args()
    if args.command == "pack":
        pack(args.config, args.out)
    elif args.command == "run":
        run(args)
    elif args.command == "validate":
        validate(args)
    else:
        session(args)


if __name__ == "__main__":
    main()
