"""Denoise every DICOM series of a study folder into derived series, loading the model once.

Usage::

    python examples/denoise_study.py STUDY_DIR OUTPUT_DIR [--model default] [--device auto]

Each image series found under STUDY_DIR (one folder per series, or several series in one
folder) is written to ``OUTPUT_DIR/<series number>-<modality>/`` as a derived series of
the same study, with deterministic UIDs, so running it twice gives the same files.
Series that fail are reported and skipped; the exit code is 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from meddenoise.api import denoise_series, load_model
from meddenoise.batch import find_items
from meddenoise.errors import MeddenoiseError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    model = load_model(args.model, device=args.device)  # once, for every series
    series = [item for item in find_items(args.study) if item.format == "dicom"]
    if not series:
        print(f"no DICOM series under {args.study}", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    failed = 0
    for number, item in enumerate(series, start=1):
        source = args.study / item.source
        target = args.output / f"{number:03d}-{Path(item.label).name}"
        try:
            result = denoise_series(
                source,
                target,
                model=model,
                series_uid=item.series_uid,
                overwrite=True,
                deterministic=True,
            )
        except MeddenoiseError as exc:
            failed += 1
            print(f"{item.label}: failed: {exc}", file=sys.stderr)
            continue
        print(f"{item.label}: {result.slices} slices -> {target} ({result.seconds:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
