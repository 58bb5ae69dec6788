import numpy as np
import pytest

from meddenoise.checkpoint import load_checkpoint
from meddenoise.ldct.dataset import load_pair
from meddenoise.ldct.evaluate import format_scores, score_models

from .conftest import phantom, save_ct


def test_scores_measure_the_error_in_hu_on_held_out_slices(tmp_path, tiny_model):
    rng = np.random.default_rng(1)
    clean = phantom(12)
    full = save_ct(tmp_path / "full.nii.gz", clean)
    low = save_ct(tmp_path / "low.nii.gz", clean + rng.normal(0, 50, clean.shape))
    pair = load_pair(low, full, block=4, val_fraction=0.25)
    model = load_checkpoint(tiny_model).build().eval()
    scores = score_models([pair], {"tiny": model})
    assert [s.method for s in scores] == ["low dose", "tiny"]
    assert all(s.slices == 4 for s in scores)
    low_score = scores[0]
    # int16 rounding adds 1/12 HU^2; air below -1024 HU is clipped by the CT window
    assert low_score.rmse_object_hu == pytest.approx(50, rel=0.08)
    assert low_score.psnr == pytest.approx(20 * np.log10(4095 / low_score.rmse_hu), abs=0.01)
    assert np.isfinite(scores[1].psnr)
    table = format_scores(scores)
    assert table.splitlines()[2].startswith("| low dose | 4 |")
