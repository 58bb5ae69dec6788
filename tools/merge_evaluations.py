"""Compare models evaluated in separate runs of ``meddenoise evaluate`` on the same noise.

Usage::

    python tools/merge_evaluations.py BASE.csv NEW.csv [NEW2.csv ...] \
        [--reference bm3d] [--out merged.md]

BM3D takes most of an evaluation's time, so a new model can be evaluated with
``--methods noisy`` only and compared against the baselines of an earlier run of the same
command. That is only sound when both runs made the same noisy images: every file's
``noisy`` rows must equal the first file's (same items, crops, sigmas, kinds and seed;
the noise is seeded per image, so equal noisy PSNR and SSIM to 1e-4 mean the same
images), else the tool stops with exit code 2.

It prints, per modality, the mean PSNR over noise kinds and sigmas of every method, and
each method's difference from ``--reference``, as a Markdown table (also written to
``--out``). A method already named by an earlier file is labelled ``NAME@FILE-STEM``; the
reference is the first file's.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

Key = tuple[str, str, str]  # family, kind, sigma


def read_rows(path: Path) -> dict[str, dict[Key, dict[str, float]]]:
    """Return ``{method: {(family, kind, sigma): {metric: value}}}`` of one evaluation CSV."""
    out: dict[str, dict[Key, dict[str, float]]] = defaultdict(dict)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["family"], row["kind"], f"{float(row['sigma']):g}")
            out[row["method"]][key] = {"psnr": float(row["psnr"]), "ssim": float(row["ssim"])}
    return dict(out)


def same_noise(base: dict[Key, dict[str, float]], other: dict[Key, dict[str, float]]) -> bool:
    """Whether two runs' ``noisy`` rows agree on every key they share (and share all)."""
    if set(base) != set(other):
        return False
    return all(abs(base[k][m] - other[k][m]) <= 1e-4 for k in base for m in ("psnr", "ssim"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("csv", nargs="+", type=Path)
    parser.add_argument("--reference", default="bm3d")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if len(args.csv) < 2:
        print("Error: give the base evaluation and at least one more", file=sys.stderr)
        return 2
    runs = []
    for path in args.csv:
        try:
            runs.append((path, read_rows(path)))
        except (OSError, KeyError, ValueError) as exc:
            print(f"Error: {path}: not an evaluation CSV ({exc})", file=sys.stderr)
            return 2
    base_noisy = runs[0][1].get("noisy", {})
    for path, rows in runs:
        if not base_noisy or "noisy" not in rows or not same_noise(base_noisy, rows["noisy"]):
            print(f"Error: {path}: its noisy images differ from {args.csv[0]}'s", file=sys.stderr)
            return 2
    merged: dict[str, dict[Key, dict[str, float]]] = {}
    for index, (path, rows) in enumerate(runs):
        for method, values in rows.items():
            if method == "noisy" and index:
                continue
            merged[method if method not in merged else f"{method}@{path.stem}"] = values
    if args.reference not in merged:
        print(f"Error: no method {args.reference!r} in the files", file=sys.stderr)
        return 2
    families = sorted({k[0] for k in base_noisy})
    lines = [
        "| method | " + " | ".join(families) + " |",
        "|---|" + "---:|" * len(families),
    ]
    reference = merged[args.reference]
    for label, values in merged.items():
        cells = []
        for family in families:
            keys = [k for k in values if k[0] == family]
            if not keys:
                cells.append("")
                continue
            mean = sum(values[k]["psnr"] for k in keys) / len(keys)
            ref = sum(reference[k]["psnr"] for k in keys) / len(keys)
            diff = "" if label == args.reference else f" ({mean - ref:+.2f})"
            cells.append(f"{mean:.2f}{diff}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    text = (
        f"Mean PSNR (dB) over noise kinds and sigmas; in brackets the difference from "
        f"{args.reference}.\n\n" + "\n".join(lines) + "\n"
    )
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
