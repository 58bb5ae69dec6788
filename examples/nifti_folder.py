"""Denoise a folder of NIfTI volumes resumably, as a nightly research job would.

Usage::

    python examples/nifti_folder.py INPUT_DIR OUTPUT_DIR [--model default] [--shard K/N]

Calls :func:`meddenoise.api.denoise_folder` (the Python face of ``meddenoise batch``):
the output mirrors the input folders, ``OUTPUT_DIR/manifest.jsonl`` records every
volume, and a rerun after an interruption skips what is finished. Prints a summary and
the failed volumes; exit code 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from meddenoise.api import denoise_folder
from meddenoise.batch import parse_shard


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--model", default="default")
    parser.add_argument("--shard", default="0/1", help="K/N, e.g. from a Slurm array index")
    parser.add_argument("--modality", default=None, help="e.g. CT for CT volumes in HU")
    args = parser.parse_args(argv)

    summary = denoise_folder(
        args.input,
        args.output,
        model=args.model,
        pattern="**/*.nii*",
        shard=parse_shard(args.shard),
        modality=args.modality,
        on_item=lambda i, n, item, outcome: print(f"[{i}/{n}] {item.key}: {outcome.status}"),
    )
    print(
        f"{summary.done} denoised, {summary.already_done} already done, "
        f"{summary.failed} failed; manifest {summary.manifest}"
    )
    for key, error in summary.failures:
        print(f"  {key}: {error}", file=sys.stderr)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
