"""Print parameters and multiply-accumulates per stage of the denoisers.

Usage: ``python tools/model_summary.py [--size 256] [--arch two_stage]``. For the paper's
model at 256x256x3 it prints 38.34 G multiply-accumulates (Table VII).
"""

from __future__ import annotations

import argparse

from meddenoise.models import available_models, build_model
from meddenoise.models.summary import summarize_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument(
        "--arch",
        choices=available_models(),
        action="append",
        help="architecture (repeatable; default: all)",
    )
    args = parser.parse_args(argv)
    for arch in args.arch or available_models():
        rows = summarize_model(build_model(arch), height=args.size, width=args.size)
        print(f"{arch} at {args.size}x{args.size}x3")
        print(f"  {'stage':<6} {'parameters':>11} {'MACs':>10}")
        for row in rows:
            print(f"  {row.name:<6} {row.parameters:>11,} {row.macs / 1e9:>9.2f}G")


if __name__ == "__main__":
    main()
