from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from meddenoise.api import LoadedModel, load_model
from meddenoise.errors import InputError
from meddenoise.evaluation import (
    EvalImage,
    EvaluationConfig,
    evaluate,
    format_csv,
    noise_seed,
    protocol,
)
from meddenoise.evaluation.protocol import _crops_of

HAS_PYWT = importlib.util.find_spec("pywt") is not None


def _ramp() -> np.ndarray:
    """Grey 64x64 ramp over the whole [0, 1] range: clipping matters at both ends."""
    return np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (1, 64, 1))


def _colour() -> np.ndarray:
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    return np.stack([0.2 + 0.6 * xx, 0.5 + 0.3 * yy, 0.3 + 0.4 * np.sin(3 * xx) * yy]).astype(
        np.float32
    )


@pytest.fixture
def images() -> list[EvalImage]:
    return [
        EvalImage("a/ramp.png", "ct", (_ramp(),)),
        EvalImage("b/rgb.png", "dermoscopy", (_colour(),)),
    ]


@pytest.fixture(scope="module")
def zero_model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """A stage-I model whose weights are all zero: estimated noise 0, output = input."""
    import torch

    from meddenoise.checkpoint import save_checkpoint
    from meddenoise.models import build_model

    net = build_model("nen", depth=1)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "zero.pt", net)
    return load_model(path, device="cpu")


def _expected_psnr(clean: np.ndarray, sigma: float) -> float:
    """PSNR of ``clip(clean + n, 0, 1)`` in expectation, n ~ N(0, (sigma/255)^2)."""
    s = sigma / 255.0
    x = clean.astype(np.float64)
    lo, hi = -x / s, (1.0 - x) / s
    inside = (norm.cdf(hi) - norm.cdf(lo)) - (hi * norm.pdf(hi) - lo * norm.pdf(lo))
    err = s**2 * inside + x**2 * norm.cdf(lo) + (1.0 - x) ** 2 * norm.sf(hi)
    return float(10 * np.log10(1.0 / err.mean()))


def test_noisy_psnr_at_sigma_25_matches_the_clipped_expectation(images: list[EvalImage]) -> None:
    config = EvaluationConfig(sigmas=(25,), kinds=("gaussian",), methods=("noisy",))
    rows = {r.family: r for r in evaluate(images, config=config).rows()}
    for image in images:
        expected = _expected_psnr(image.slices[0], 25)
        assert 20.17 < expected < 20.8  # 20*log10(255/25) = 20.17 without clipping
        assert rows[image.family].metrics["psnr"] == pytest.approx(expected, abs=0.3)
        assert rows[image.family].n == 1
    assert _expected_psnr(images[0].slices[0], 25) > _expected_psnr(images[1].slices[0], 25)


def test_a_model_that_returns_its_input_scores_as_noisy(
    images: list[EvalImage], zero_model: LoadedModel
) -> None:
    config = EvaluationConfig(sigmas=(10, 50), methods=("noisy",), precision="fp32")
    result = evaluate(images, models=[("zero", zero_model)], config=config)
    assert result.methods == ("noisy", "zero")
    assert result.notes == (f"zero: zero.pt (nen, sha256 {zero_model.short_hash}) on cpu",)
    rows = {(r.family, r.method, r.kind, r.sigma): r.metrics for r in result.rows()}
    assert len(rows) == 2 * 2 * 2 * 2
    for (family, method, kind, sigma), metrics in rows.items():
        if method == "zero":
            noisy = rows[family, "noisy", kind, sigma]
            if family == "dermoscopy":  # colour passes through exactly
                assert metrics == noisy
            else:  # grey goes through 3 equal channels and their mean: float rounding
                assert metrics == pytest.approx(noisy, rel=1e-6)


def test_two_runs_give_identical_csv_bytes(
    images: list[EvalImage], zero_model: LoadedModel
) -> None:
    methods = ("noisy", "nlm", "tv", "wavelet") if HAS_PYWT else ("noisy",)
    config = EvaluationConfig(sigmas=(25, 75), methods=methods, precision="fp32")
    models = [("zero", zero_model)]
    first = format_csv(evaluate(images, models=models, config=config)).encode()
    second = format_csv(evaluate(images, models=models, config=config)).encode()
    assert first == second
    assert first.count(b"\n") == 1 + 2 * (len(methods) + 1) * 2 * 2
    other = EvaluationConfig(sigmas=(25, 75), methods=methods, precision="fp32", seed=1)
    assert format_csv(evaluate(images, models=models, config=other)).encode() != first


def test_progress_counts_every_evaluation(images: list[EvalImage]) -> None:
    calls: list[tuple[int, int]] = []
    config = EvaluationConfig(sigmas=(10, 25, 50), methods=("noisy",))
    result = evaluate(images, config=config, progress=lambda d, t: calls.append((d, t)))
    total = 2 * 2 * 3 * 1
    assert calls == [(k, total) for k in range(1, total + 1)]
    assert len(result.records) == total
    assert all(r.seconds >= 0 for r in result.records)


def test_slices_are_evenly_spaced_and_centre_cropped() -> None:
    stack = tuple(np.full((1, 100, 120), k / 10, np.float32) for k in range(5))
    stack[2][0, 18:82, 28:92] = 0.9  # the centre 64x64 of slice 2
    crops = _crops_of(EvalImage("v", "ct", stack), EvaluationConfig(max_slices=3, crop=64))
    assert [k for k, _ in crops] == [0, 2, 4]
    assert all(c.shape == (1, 64, 64) for _, c in crops)
    assert np.all(crops[1][1] == np.float32(0.9))
    whole = _crops_of(EvalImage("v", "ct", stack), EvaluationConfig(max_slices=9, crop=None))
    assert [c.shape for _, c in whole] == [(1, 100, 120)] * 5
    small = EvalImage("s", "ct", (np.zeros((3, 50, 60), np.float32),))
    assert _crops_of(small, EvaluationConfig())[0][1].shape == (3, 50, 60)


def test_noise_seed_depends_on_every_part() -> None:
    base = noise_seed(0, "ct/a", 1, "gaussian", 25)
    variants = [
        noise_seed(1, "ct/a", 1, "gaussian", 25),
        noise_seed(0, "ct/b", 1, "gaussian", 25),
        noise_seed(0, "ct/a", 2, "gaussian", 25),
        noise_seed(0, "ct/a", 1, "speckle", 25),
        noise_seed(0, "ct/a", 1, "gaussian", 50),
    ]
    assert base not in variants
    assert len(set(variants)) == len(variants)
    assert noise_seed(0, "ct/a", 1, "gaussian", 25.0) == base


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (EvaluationConfig(kinds=("salt",)), "unknown noise kind 'salt'"),
        (EvaluationConfig(kinds=("poisson",)), "unknown noise kind 'poisson'"),
        (EvaluationConfig(sigmas=(0,)), r"sigma must be in \(0, 255\]"),
        (EvaluationConfig(sigmas=(300,)), r"sigma must be in \(0, 255\]"),
        (EvaluationConfig(sigmas=(math.nan,)), r"sigma must be in \(0, 255\]"),
        (EvaluationConfig(sigmas=()), "at least one noise kind and one sigma"),
        (EvaluationConfig(max_slices=0), "max_slices"),
        (EvaluationConfig(crop=16), "crop must be at least 41"),
        (EvaluationConfig(methods=("median",)), "unknown baseline 'median'"),
    ],
)
def test_bad_options_raise_one_line_input_errors(
    images: list[EvalImage], config: EvaluationConfig, message: str
) -> None:
    with pytest.raises(InputError, match=message) as info:
        evaluate(images, config=config)
    assert "\n" not in str(info.value)


def test_bad_data_raise_input_errors(images: list[EvalImage], zero_model: LoadedModel) -> None:
    with pytest.raises(InputError, match="no images to evaluate"):
        evaluate([])
    with pytest.raises(InputError, match="no images to evaluate"):
        evaluate([EvalImage("empty", "ct", ())])
    tiny = EvalImage("tiny", "ct", (np.zeros((1, 30, 30), np.float32),))
    with pytest.raises(InputError, match="tiny: slice 0 is 30x30"):
        evaluate([tiny])
    ints = EvalImage("ints", "ct", (np.zeros((1, 64, 64), np.uint8),))
    with pytest.raises(InputError, match="not a float"):
        evaluate([ints])
    config = EvaluationConfig(methods=("noisy",))
    for label in ("noisy", ""):
        with pytest.raises(InputError, match="empty or already used"):
            evaluate(images, models=[(label, zero_model)], config=config)
    with pytest.raises(InputError, match="no such checkpoint"):
        evaluate(images, models=[("x", Path("/nonexistent/model.pt"))], config=config)


def test_an_unavailable_baseline_is_skipped_with_a_note(
    images: list[EvalImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        protocol, "baseline_unavailable", lambda n: "bm3d: not installed" if n == "bm3d" else None
    )
    config = EvaluationConfig(sigmas=(25,), kinds=("gaussian",), methods=("noisy", "bm3d"))
    result = evaluate(images, config=config)
    assert result.methods == ("noisy",)
    assert result.notes == ("skipped bm3d: not installed",)
    with pytest.raises(InputError, match="no method to evaluate: skipped bm3d"):
        evaluate(images, config=EvaluationConfig(methods=("bm3d",)))


@pytest.mark.parametrize("true_sigma", [False, True])
def test_bm3d_gets_the_true_sigma_only_for_gaussian_noise_when_asked(
    images: list[EvalImage], monkeypatch: pytest.MonkeyPatch, true_sigma: bool
) -> None:
    seen: list[tuple[int, float | None]] = []

    def fake_bm3d(noisy: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
        seen.append((noisy.ndim, sigma))
        return noisy

    monkeypatch.setattr(protocol, "baseline_unavailable", lambda n: None)
    monkeypatch.setitem(protocol.BASELINES, "bm3d", fake_bm3d)
    config = EvaluationConfig(sigmas=(25,), methods=("bm3d",), bm3d_true_sigma=true_sigma)
    evaluate(images[:1], config=config)
    assert seen == [(2, 25 / 255 if true_sigma else None), (2, None)]  # gaussian, speckle


def test_importing_the_evaluation_package_loads_no_torch() -> None:
    import subprocess
    import sys

    code = "import sys, meddenoise.evaluation; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
