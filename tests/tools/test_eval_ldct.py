import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import eval_ldct

from ..ldct.conftest import phantom, save_ct, tiny_model  # noqa: F401  (fixture)


def test_prints_a_table_of_input_and_models_on_held_out_slices(tmp_path, tiny_model, capsys):  # noqa: F811
    rng = np.random.default_rng(0)
    clean = phantom(8, 32)
    full = save_ct(tmp_path / "full.nii.gz", clean + rng.normal(0, 20, clean.shape))
    low = save_ct(tmp_path / "low.nii.gz", clean + rng.normal(0, 60, clean.shape))
    argv = ["--low", str(low), "--full", str(full), "--block", "4", "--model", f"tiny={tiny_model}"]
    eval_ldct.main(argv)
    plain = capsys.readouterr().out.splitlines()
    assert [line.split("|")[1].strip() for line in plain[2:]] == ["low dose", "tiny"]
    eval_ldct.main([*argv, "--reference-mean"])
    mean = capsys.readouterr().out.splitlines()
    # the mean of the full-dose slices has less noise: the low-dose RMSE against it drops
    rmse = lambda line: float(line.split("|")[5])  # noqa: E731
    assert rmse(mean[2]) < rmse(plain[2])
