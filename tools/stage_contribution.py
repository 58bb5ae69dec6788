"""Measure what stage II adds to stage I in a two-stage checkpoint (the ablation, inside one model).

Usage::

    python tools/stage_contribution.py CHECKPOINT [--nen-from NEN.pt] [--label NAME] \
        [--split configs/split.toml] [--split-name validation] [--families ct,mri] \
        [--max-items 8] [--max-slices 3] [--crop 256] [--sigmas 10,25,50,75] \
        [--kinds gaussian,speckle] [--out rows.csv]

A ``two_stage`` (or ``twn``) model's output is ``noisy - n + r``: stage I's estimate ``n``
subtracted, then stage II's correction ``r`` added. This tool evaluates, on the same noisy
images and with the protocol of ``meddenoise evaluate`` (same seeds, crops and metrics,
so the rows can be merged with an evaluation's by ``tools/merge_evaluations.py``), the
full model and its stage I alone (``noisy - n``, a ``nen`` model with stage I's
weights), and prints per modality the mean PSNR of both and the gain stage II gives.

``--split-name train`` scores the split's training items instead of its validation
ones: whether stage II fits the images it was trained on better than stage I does (if it
gains there but not on validation, it overfits; if it gains on neither, it has learnt
nothing stage I lacks).

``--nen-from`` replaces stage I by the NEN of another checkpoint (a ``nen`` model or the
stage I of a two-stage one) before both are evaluated: whether a stage II trained with
one stage I still helps another.

Exit code 2 (with a one-line ``Error:``) for a missing or unreadable checkpoint, a
checkpoint without two stages, bad evaluation options or bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from meddenoise.train.split import SPLITS

if TYPE_CHECKING:
    from meddenoise.api import LoadedModel
    from meddenoise.evaluation.report import EvaluationResult


def stage_models(
    checkpoint: Path, *, nen_from: Path | None = None, device: str = "cpu"
) -> tuple[LoadedModel, LoadedModel]:
    """Return ``(stage_one, full)`` models of one two-stage checkpoint, ready for inference.

    Parameters
    ----------
    checkpoint : Path
        A ``two_stage`` or ``twn`` checkpoint.
    nen_from : Path, optional
        A checkpoint whose NEN (a ``nen`` model, or another model's stage I) replaces
        stage I in both.
    device : str
        Where both run (see :func:`meddenoise.device.resolve_device`).

    Returns
    -------
    tuple of LoadedModel
        Stage I alone (a ``nen`` model: ``noisy - n``) and the full model.

    Raises
    ------
    meddenoise.errors.InputError
        When a checkpoint cannot be read, has no stage II, or its stage I does not fit.
    """
    from meddenoise.api import LoadedModel
    from meddenoise.checkpoint import file_digest, load_checkpoint
    from meddenoise.device import resolve_device
    from meddenoise.errors import InputError
    from meddenoise.models import build_model

    for path in (checkpoint, nen_from):
        if path is not None and not path.is_file():
            raise InputError(f"{path}: no such checkpoint file")
    resolved = resolve_device(device)
    ckpt = load_checkpoint(checkpoint)
    full = ckpt.build()
    nen = getattr(full, "nen", None)
    if nen is None or not hasattr(full, "rn"):
        raise InputError(f"{checkpoint}: a {ckpt.arch!r} model has no stage II to measure")
    name = checkpoint.name
    if nen_from is not None:
        donor = load_checkpoint(nen_from).build()
        try:
            nen.load_state_dict(getattr(donor, "nen", donor).state_dict())
        except RuntimeError:
            raise InputError(f"{nen_from}: its stage I does not fit {checkpoint.name}") from None
        name = f"{checkpoint.name} with the NEN of {nen_from.name}"
    stage_one = build_model("nen", **nen.config)
    stage_one.load_state_dict(nen.state_dict())
    one, two = (m.to(resolved).eval().requires_grad_(False) for m in (stage_one, full))
    digest = file_digest(checkpoint)
    return (
        LoadedModel(one, f"{name}, stage I", digest, "nen", resolved),
        LoadedModel(two, name, digest, ckpt.arch, resolved),
    )


def contribution_table(result: EvaluationResult, stage_one: str, full: str) -> str:
    """Return a Markdown table: per modality, both models' mean PSNR and stage II's gain."""
    psnr = {(row.method, row.family): row.metrics["psnr"] for row in result.summary()}
    families = result.families
    lines = [
        "| PSNR (dB) | " + " | ".join(families) + " | mean |",
        "|---|" + "---:|" * (len(families) + 1),
    ]
    for label, method in (("stage I alone", stage_one), ("stage I + II", full)):
        values = [psnr[(method, f)] for f in families]
        cells = " | ".join(f"{v:.3f}" for v in values)
        lines.append(f"| {label} | {cells} | {sum(values) / len(values):.3f} |")
    gains = [psnr[(full, f)] - psnr[(stage_one, f)] for f in families]
    cells = " | ".join(f"{g:+.3f}" for g in gains)
    lines.append(f"| stage II's gain | {cells} | {sum(gains) / len(gains):+.3f} |")
    return "\n".join(lines) + "\n"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one ``Error:`` line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"Error: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--nen-from", type=Path)
    parser.add_argument("--label", default="model")
    parser.add_argument("--split", default="configs/split.toml")
    parser.add_argument(
        "--split-name",
        default="validation",
        choices=SPLITS,
        help="which items of the split file to score (default: validation)",
    )
    parser.add_argument("--families", help="comma-separated; default: every family")
    parser.add_argument("--max-items", type=int, default=8)
    parser.add_argument("--max-slices", type=int, default=3)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--sigmas", default="10,25,50,75")
    parser.add_argument("--kinds", default="gaussian,speckle")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--out", type=Path, help="write the rows as evaluation CSV")
    args = parser.parse_args(argv)

    from meddenoise.errors import MeddenoiseError
    from meddenoise.evaluation import load_eval_images
    from meddenoise.evaluation.protocol import EvaluationConfig, evaluate
    from meddenoise.evaluation.report import format_csv

    try:
        sigmas = tuple(float(s) for s in args.sigmas.split(","))
    except ValueError:
        print(f"Error: --sigmas {args.sigmas!r}: give numbers separated by commas", file=sys.stderr)
        return 2
    if args.out is not None and not args.out.parent.is_dir():
        print(f"Error: {args.out.parent}: no such folder for --out", file=sys.stderr)
        return 2
    stage_label, full_label = f"{args.label}_stage1", args.label
    try:
        stage_one, full = stage_models(args.checkpoint, nen_from=args.nen_from, device=args.device)
        images = load_eval_images(
            split=args.split,
            split_name=args.split_name,
            families=args.families.split(",") if args.families else None,
            max_items=args.max_items,
            max_slices=args.max_slices,
        )
        config = EvaluationConfig(
            sigmas=sigmas,
            kinds=tuple(k for k in args.kinds.split(",") if k),
            methods=("noisy",),
            max_slices=args.max_slices,
            crop=args.crop,
            seed=args.seed,
            device=args.device,
            precision=args.precision,
        )
        result = evaluate(
            images, models=[(stage_label, stage_one), (full_label, full)], config=config
        )
    except MeddenoiseError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    if args.out is not None:
        args.out.write_text(format_csv(result))
    print(contribution_table(result, stage_label, full_label), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
