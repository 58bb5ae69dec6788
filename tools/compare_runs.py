"""Compare two training runs step by step on their validation logs.

Usage::

    python tools/compare_runs.py RUN_A RUN_B [--windows 4] [--out compare.md]

``RUN_A`` and ``RUN_B`` are run folders of ``meddenoise train`` (or their ``log.jsonl``
files). At every step both logs validated, the tool prints each run's validation PSNR per
modality and on the mean, and A minus B; then, with the common steps cut into
``--windows`` consecutive groups, the mean difference and how often A was ahead in each.
This is how an ablation is read at equal training (the two-stage model against the NEN
alone given the same steps): one validation is noisy, the trend over many is not.

The comparison is only sound when both runs validated the same modalities on the same
noisy crops: each log line records the noisy input's PSNR per modality
(``<family>_noisy``), and the tool stops with exit code 2 where the two runs validated
other modalities, or their noisy inputs' scores differ at a common step.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

Scores = dict[str, float]


class CompareError(Exception):
    """A log that cannot be compared; the message is the one-line reason."""


def read_log(path: Path) -> dict[int, Scores]:
    """Return ``{step: {name: PSNR}}`` of the validation lines of one run's log.

    A validation line holds ``mean`` and, per modality, its PSNR and the noisy input's
    (``<family>_noisy``); only such modalities are kept. Raises :class:`CompareError`
    where the log is missing, unreadable, malformed or holds no validation.
    """
    log = path / "log.jsonl" if path.is_dir() else path
    if not log.is_file():
        raise CompareError(f"{path}: no training log (log.jsonl) there")
    try:
        text = log.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CompareError(f"{log}: cannot be read ({exc})") from exc
    scores: dict[int, Scores] = {}
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line) if line.strip() else {}
            if not isinstance(record, dict):
                raise TypeError("not a JSON object")
            if "mean" in record:
                names = [k for k in record if f"{k}_noisy" in record]
                kept = [*names, *(f"{k}_noisy" for k in names), "mean"]
                scores[int(record["step"])] = {k: float(record[k]) for k in kept}
        except (ValueError, TypeError, KeyError) as exc:
            raise CompareError(f"{log}: line {number} is not a training log record") from exc
    if not scores or not families_of(scores):
        raise CompareError(f"{log}: holds no validation with the noisy inputs' scores")
    return scores


def families_of(scores: dict[int, Scores]) -> list[str]:
    """Return the modalities validated in every line of a log, in the log's order."""
    first = next(iter(scores.values()))
    names = [k for k in first if k != "mean" and not k.endswith("_noisy")]
    return [f for f in names if all(f in s for s in scores.values())]


def compare(a: dict[int, Scores], b: dict[int, Scores], windows: int) -> str:
    """Return the Markdown comparison of two logs (A minus B)."""
    steps = sorted(set(a) & set(b))
    if not steps:
        raise CompareError("the two runs never validated at the same step")
    families, others = families_of(a), families_of(b)
    if set(families) != set(others):
        raise CompareError(
            f"the runs validated different modalities ({', '.join(families)} against "
            f"{', '.join(others)})"
        )
    for step in steps:
        for family in families:
            key = f"{family}_noisy"
            if abs(a[step][key] - b[step][key]) > 1e-6:
                raise CompareError(
                    f"the runs validated on different noisy crops ({key} at step {step}: "
                    f"{a[step][key]:.4f} against {b[step][key]:.4f})"
                )
    names = [*families, "mean"]
    lines = [
        "| step | " + " | ".join(f"{n} A | {n} B | A-B" for n in names) + " |",
        "|---:|" + "---:|---:|---:|" * len(names),
    ]
    for step in steps:
        cells = [
            f"{a[step][n]:.2f} | {b[step][n]:.2f} | {a[step][n] - b[step][n]:+.2f}" for n in names
        ]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    lines += ["", "| steps | validations | mean A-B | A ahead |", "|---|---:|---:|---:|"]
    count = max(1, min(windows, len(steps)))
    for index in range(count):
        group = steps[index * len(steps) // count : (index + 1) * len(steps) // count]
        diffs = [a[s]["mean"] - b[s]["mean"] for s in group]
        ahead = sum(d > 0 for d in diffs)
        lines.append(
            f"| {group[0]}-{group[-1]} | {len(group)} | {sum(diffs) / len(diffs):+.2f} "
            f"| {ahead}/{len(group)} |"
        )
    return "\n".join(lines) + "\n"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one ``Error:`` line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"Error: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(description=__doc__.split("\n")[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--windows", type=int, default=4, help="groups of common steps")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    args = parser.parse_args(argv)
    try:
        if args.windows < 1:
            raise CompareError("--windows must be at least 1")
        if args.out is not None and not args.out.parent.is_dir():
            raise CompareError(f"{args.out.parent}: no such folder for --out")
        text = compare(read_log(args.run_a), read_log(args.run_b), args.windows)
        text = f"A = {args.run_a}, B = {args.run_b}; validation PSNR (dB)\n\n" + text
        if args.out is not None:
            try:
                args.out.write_text(text)
            except OSError as exc:
                raise CompareError(f"{args.out}: cannot be written ({exc.strerror})") from exc
    except CompareError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
