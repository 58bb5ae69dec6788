"""Measure the accuracy cost of bf16 (or fp16) inference against fp32 with a checkpoint.

Usage: ``python tools/bench_precision.py --model M [--precision bf16] [--max-items 2]``

On validation crops of every modality (``configs/split.toml``), with fixed seeded
Gaussian and speckle noise, the model denoises each crop in fp32 and in the other
precision; the script prints the mean PSNR of both per modality, the difference in dB,
and the time ratio, all from one run. The engine may make bf16 its ``auto`` choice only
where the difference is at most 0.05 dB with the trained default model
(``meddenoise/engine/precision.py``: ``BF16_VALIDATED``).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from meddenoise.api import denoise_array, load_model
from meddenoise.evaluation import load_eval_images
from meddenoise.metrics import psnr
from meddenoise.noise import add_noise

BUDGET_DB = 0.05


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="checkpoint path or 'default'")
    parser.add_argument("--precision", default="bf16", choices=("bf16", "fp16"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--split", default="configs/split.toml")
    parser.add_argument("--max-items", type=int, default=2, help="items per modality")
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--sigmas", default="25,50")
    args = parser.parse_args(argv)
    loaded = load_model(args.model, device=args.device)
    images = load_eval_images(split=args.split, max_items=args.max_items, max_slices=1)
    sigmas = [float(s) for s in args.sigmas.split(",")]
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    seconds = {"fp32": 0.0, args.precision: 0.0}
    for image in images:
        chw = image.slices[0]
        _, h, w = chw.shape
        y, x = max(0, (h - args.crop) // 2), max(0, (w - args.crop) // 2)
        crop = chw[:, y : y + args.crop, x : x + args.crop]
        clean = crop[0] if crop.shape[0] == 1 else crop.transpose(1, 2, 0)
        for k, (sigma, kind) in enumerate((s, k) for s in sigmas for k in ("gaussian", "speckle")):
            noisy = add_noise(clean, kind, sigma, rng=1000 + k)
            for precision in seconds:
                start = time.perf_counter()
                out = denoise_array(noisy, model=loaded, precision=precision)
                seconds[precision] += time.perf_counter() - start
                scores[image.family][precision].append(psnr(clean, out))
    print(
        f"{args.precision} vs fp32 on {loaded.name} ({loaded.arch}, sha256 {loaded.short_hash}) "
        f"on {loaded.device}; sigmas {args.sigmas}, gaussian and speckle, "
        f"{args.crop}x{args.crop} crops"
    )
    print(f"  {'family':<11} {'fp32 dB':>8} {args.precision + ' dB':>8} {'diff':>7}")
    worst = 0.0
    for family, by_precision in sorted(scores.items()):
        a = float(np.mean(by_precision["fp32"]))
        b = float(np.mean(by_precision[args.precision]))
        worst = max(worst, a - b)
        print(f"  {family:<11} {a:8.3f} {b:8.3f} {b - a:+7.3f}")
    ratio = seconds["fp32"] / seconds[args.precision]
    print(f"  worst PSNR loss {worst:.3f} dB (budget {BUDGET_DB} dB): ", end="")
    print("within budget" if worst <= BUDGET_DB else "over budget: auto stays fp32")
    print(f"  speed {args.precision} / fp32 = {ratio:.2f}x (higher is faster)")


if __name__ == "__main__":
    main()
