"""Evaluation of denoisers as in the paper's Tables I-V.

Clean images get fixed, seeded Gaussian and speckle noise at sigma 10, 25, 50 and 75;
classical baselines (:mod:`~meddenoise.evaluation.baselines`) and models denoise them; the
five metrics of :mod:`meddenoise.metrics` score the results, averaged per family, method,
noise kind and sigma (:mod:`~meddenoise.evaluation.protocol`), and
:mod:`~meddenoise.evaluation.report` renders the tables as text, Markdown or CSV.

Typical use::

    images = load_eval_images(split="configs/split.toml", max_slices=3)
    result = evaluate(images, models=[("ours", "model.pt")])
    print(format_table(result))
    write_report(result, "evaluation.csv")

Importing this package loads no torch; models are loaded when :func:`evaluate` runs.
"""

from __future__ import annotations

from meddenoise.evaluation.baselines import BASELINES, baseline_unavailable
from meddenoise.evaluation.protocol import (
    DEFAULT_METHODS,
    MODALITY_FAMILIES,
    SIGMA_KINDS,
    EvalImage,
    EvaluationConfig,
    evaluate,
    load_eval_images,
    noise_seed,
)
from meddenoise.evaluation.report import (
    EvaluationRecord,
    EvaluationResult,
    EvaluationRow,
    format_csv,
    format_markdown,
    format_table,
    write_report,
)

__all__ = [
    "BASELINES",
    "DEFAULT_METHODS",
    "MODALITY_FAMILIES",
    "SIGMA_KINDS",
    "EvalImage",
    "EvaluationConfig",
    "EvaluationRecord",
    "EvaluationResult",
    "EvaluationRow",
    "baseline_unavailable",
    "evaluate",
    "format_csv",
    "format_markdown",
    "format_table",
    "load_eval_images",
    "noise_seed",
    "write_report",
]
