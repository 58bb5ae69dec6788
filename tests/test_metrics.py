import math

import numpy as np
import pytest
from scipy import ndimage
from sewar.full_ref import vifp as sewar_vifp
from skimage import data

from meddenoise import metrics
from meddenoise.errors import InputError


def camera():
    return data.camera()[::2, ::2].astype(np.float64) / 255.0


def astronaut():
    return data.astronaut()[::2, ::2].transpose(2, 0, 1).astype(np.float64) / 255.0


def pairs():
    rng = np.random.default_rng(0)
    cam, ast = camera(), astronaut()
    yield "grey+noise", cam, np.clip(cam + rng.normal(0, 0.1, cam.shape), 0, 1)
    yield "grey+blur", cam, ndimage.gaussian_filter(cam, 2.0)
    yield "grey+contrast", cam, 0.5 + 0.6 * (cam - 0.5)
    yield "rgb+noise", ast, np.clip(ast + rng.normal(0, 0.05, ast.shape), 0, 1)
    yield "rgb+jpeg-like", ast, np.round(ast * 16) / 16
    small = rng.random((41, 47))
    yield "small random", small, np.clip(small + rng.normal(0, 0.2, small.shape), 0, 1)


@pytest.mark.parametrize(("name", "ref", "test"), list(pairs()), ids=[p[0] for p in pairs()])
def test_vifp_matches_sewar_to_1e6(name, ref, test):
    ours = metrics.vifp(ref, test)
    channel_last = (lambda a: a.transpose(1, 2, 0)) if ref.ndim == 3 else (lambda a: a)
    theirs = sewar_vifp(channel_last(ref) * 255.0, channel_last(test) * 255.0)
    assert abs(ours - theirs) < 1e-6
    assert 0 < ours < 1.2


def test_identical_images_give_perfect_scores_without_crashing():
    ref = astronaut()
    assert metrics.psnr(ref, ref) == math.inf
    assert metrics.mse(ref, ref) == 0.0
    assert metrics.ssim(ref, ref) == pytest.approx(1.0)
    assert metrics.delta_e(ref, ref) == 0.0
    assert metrics.vifp(ref, ref) == pytest.approx(1.0, abs=1e-9)
    flat = np.full((64, 64), 0.3)
    assert metrics.vifp(flat, flat) == 1.0
    assert math.isnan(metrics.vifp(flat, flat + 0.1))


def test_psnr_and_mse_on_the_255_scale():
    ref = np.full((3, 32, 32), 0.5)
    test = ref + 10 / 255.0
    assert metrics.mse(ref, test) == pytest.approx(100.0)
    assert metrics.psnr(ref, test) == pytest.approx(10 * math.log10(255**2 / 100.0))


def test_ssim_orders_distortions():
    cam = camera()
    rng = np.random.default_rng(3)
    mild = np.clip(cam + rng.normal(0, 0.02, cam.shape), 0, 1)
    strong = np.clip(cam + rng.normal(0, 0.2, cam.shape), 0, 1)
    assert 1.0 > metrics.ssim(cam, mild) > metrics.ssim(cam, strong) > 0.0


def test_delta_e_of_a_colour_shift_matches_skimage():
    from skimage.color import deltaE_ciede2000, rgb2lab

    ref = astronaut()
    test = np.clip(ref * np.array([1.0, 0.9, 0.8])[:, None, None], 0, 1)
    expected = deltaE_ciede2000(rgb2lab(ref.transpose(1, 2, 0)), rgb2lab(test.transpose(1, 2, 0)))
    assert metrics.delta_e(ref, test) == pytest.approx(float(expected.mean()))
    assert metrics.delta_e(ref, test) > 1.0


def test_grey_images_are_repeated_for_delta_e():
    cam = camera()
    assert metrics.delta_e(cam, cam * 0.9) == pytest.approx(
        metrics.delta_e(np.stack([cam] * 3), np.stack([cam * 0.9] * 3))
    )


def test_compute_metrics_returns_all_five_in_the_papers_order():
    cam = camera()
    values = metrics.compute_metrics(cam, np.clip(cam + 0.05, 0, 1))
    assert list(values) == list(metrics.METRICS) == ["psnr", "ssim", "delta_e", "vifp", "mse"]
    assert values["psnr"] == pytest.approx(10 * math.log10(255**2 / values["mse"]))


@pytest.mark.parametrize(
    ("ref", "test", "match"),
    [
        (np.zeros((8, 8)), np.zeros((8, 9)), "differ in shape"),
        (np.zeros((2, 8, 8)), np.zeros((2, 8, 8)), "C in"),
        (np.full((8, 8), np.nan), np.zeros((8, 8)), "NaN"),
    ],
)
def test_bad_inputs_raise_input_errors(ref, test, match):
    with pytest.raises(InputError, match=match):
        metrics.psnr(ref, test)


def test_too_small_for_vifp_and_ssim():
    with pytest.raises(InputError, match="41x41"):
        metrics.vifp(np.zeros((40, 60)), np.zeros((40, 60)))
    with pytest.raises(InputError, match="7x7"):
        metrics.ssim(np.zeros((6, 60)), np.zeros((6, 60)))
