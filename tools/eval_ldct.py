"""Score low-dose CT denoising on held-out slices: input vs start model vs fine-tuned models.

Usage::

    python tools/eval_ldct.py --low LOW --full FULL [--hu-offset -1000] \
        [--model default] [--model soft=runs/ldct/soft.pt] [--slices validation|all] \
        [--block 8 --val-fraction 0.2 --guard 1]

The low-dose and full-dose series are paired by slice position and split into blocks
exactly as ``meddenoise finetune`` splits them (use the same ``--block`` and
``--val-fraction``), so ``--slices validation`` scores slices the fine-tuning never
trained on. ``--reference-mean`` compares with the mean of all full-dose slices instead
of each slice's own (for series whose slices are noise realisations of one image, like
the LCD-CT phantom: a reference with far less noise). Prints a Markdown table
(docs/ldct.md).
"""

from __future__ import annotations

import argparse

import torch

from meddenoise.checkpoint import load_checkpoint
from meddenoise.ldct.dataset import load_pair
from meddenoise.ldct.evaluate import format_scores, score_models
from meddenoise.models.base import Denoiser
from meddenoise.train.finetune import resolve_start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--low", action="append", required=True, help="Low-dose series.")
    parser.add_argument("--full", action="append", required=True, help="Full-dose series.")
    parser.add_argument("--model", action="append", default=[], help="LABEL=PATH or 'default'.")
    parser.add_argument("--hu-offset", type=float, default=0.0)
    parser.add_argument("--slices", choices=["validation", "all"], default="validation")
    parser.add_argument("--block", type=int, default=8)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--guard", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--reference-mean",
        action="store_true",
        help="reference = mean of the full-dose slices (noise realisations of one image)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    series = [
        load_pair(
            low,
            full,
            hu_offset=args.hu_offset,
            block=args.block,
            val_fraction=args.val_fraction,
            guard=args.guard,
        )
        for low, full in zip(args.low, args.full, strict=True)
    ]
    if args.reference_mean:
        for s in series:
            s.full[:] = s.full.mean(axis=0, keepdims=True)
    models: dict[str, Denoiser] = {}
    for spec in args.model or ["default"]:
        label, _, path = spec.rpartition("=")
        label = label or path
        models[label] = load_checkpoint(resolve_start(path)).build().eval()
    scores = score_models(series, models, which=args.slices)
    print(format_scores(scores))


if __name__ == "__main__":
    main()
