import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from meddenoise.checkpoint import save_checkpoint
from meddenoise.evaluation import load_eval_images
from meddenoise.evaluation.protocol import EvaluationConfig, evaluate
from meddenoise.models import build_model

TOOL = Path(__file__).resolve().parents[2] / "tools" / "stage_contribution.py"
SMALL = {"width": 8, "growth": 4, "depth": 1}


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("stage_contribution", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def split(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    rng = np.random.default_rng(0)
    smooth = np.linspace(40, 200, 64)[None, :] + np.linspace(0, 30, 56)[:, None]
    Image.fromarray(smooth.astype(np.uint8)).save(tmp_path / "data" / "xray.png")
    rgb = rng.integers(0, 256, size=(56, 64, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "data" / "derm.png")
    items = [("xray.png", "CR", "xray"), ("derm.png", "XC", "dermoscopy")]
    text = 'version = 1\nroot = "data"\n' + "".join(
        f'[[item]]\npath = "{p}"\nmodality = "{m}"\nfamily = "{f}"\n'
        f'split = "validation"\ngroup = "{p}"\n'
        for p, m, f in items
    )
    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "split.toml"  # root is relative to the split's repository
    path.write_text(text)
    return path


def _two_stage(path: Path, seed: int, *, zero_tail: bool, **wiring: str) -> Path:
    torch.manual_seed(seed)
    model = build_model("two_stage", **SMALL, **wiring)
    with torch.no_grad():
        if zero_tail:
            model.rn.tail.weight.zero_()
        else:  # make stage II's correction large enough to change the PSNR
            model.rn.tail.weight.mul_(50.0)
    return save_checkpoint(path, model.eval())


def _run(tool, split: Path, *args: object) -> int:
    options = ["--sigmas", "25", "--kinds", "gaussian", "--crop", "48", "--max-slices", "1"]
    return tool.main([*map(str, args), "--split", str(split), *options])


def _psnr(rows: Path) -> dict[tuple[str, str], float]:
    with rows.open() as handle:
        return {(r["method"], r["family"]): float(r["psnr"]) for r in csv.DictReader(handle)}


def test_a_zero_stage_two_adds_nothing(tool, split, tmp_path, capsys):
    ckpt = _two_stage(tmp_path / "two.pt", 0, zero_tail=True)
    assert _run(tool, split, ckpt, "--out", tmp_path / "rows.csv") == 0
    table = capsys.readouterr().out
    assert "| stage II's gain | +0.000 | +0.000 | +0.000 |" in table
    psnr = _psnr(tmp_path / "rows.csv")
    assert {m for m, _ in psnr} == {"noisy", "model_stage1", "model"}


def test_stage_one_alone_scores_as_a_nen_with_its_weights(tool, split, tmp_path):
    ckpt = _two_stage(tmp_path / "two.pt", 1, zero_tail=False)
    assert _run(tool, split, ckpt, "--label", "m", "--out", tmp_path / "rows.csv") == 0
    psnr = _psnr(tmp_path / "rows.csv")

    torch.manual_seed(1)
    reference = build_model("two_stage", **SMALL)
    nen = build_model("nen", **SMALL)
    nen.load_state_dict(reference.nen.state_dict())
    nen_path = save_checkpoint(tmp_path / "nen.pt", nen.eval())
    config = EvaluationConfig(
        sigmas=(25.0,), kinds=("gaussian",), methods=(), max_slices=1, crop=48, device="cpu"
    )
    images = load_eval_images(split=split, max_slices=1)
    result = evaluate(images, models=[("nen", nen_path)], config=config)
    for record in result.records:
        assert psnr[("m_stage1", record.family)] == pytest.approx(record.metrics["psnr"], abs=1e-4)
    assert any(abs(psnr[("m", f)] - psnr[("m_stage1", f)]) > 0.01 for f in ("xray", "dermoscopy"))


def test_a_model_whose_stage_two_sees_the_estimate_is_measured(tool, split, tmp_path, capsys):
    ckpt = _two_stage(tmp_path / "two.pt", 0, zero_tail=True, stage_two_input="estimate")
    assert _run(tool, split, ckpt, "--out", tmp_path / "rows.csv") == 0
    assert "| stage II's gain | +0.000 | +0.000 | +0.000 |" in capsys.readouterr().out


def test_nen_from_replaces_stage_one(tool, split, tmp_path):
    ckpt = _two_stage(tmp_path / "two.pt", 2, zero_tail=True)
    torch.manual_seed(3)
    donor = save_checkpoint(tmp_path / "donor.pt", build_model("nen", **SMALL).eval())
    assert _run(tool, split, ckpt, "--out", tmp_path / "own.csv") == 0
    assert _run(tool, split, ckpt, "--nen-from", donor, "--out", tmp_path / "swap.csv") == 0
    own, swap = _psnr(tmp_path / "own.csv"), _psnr(tmp_path / "swap.csv")
    assert own[("noisy", "xray")] == swap[("noisy", "xray")]
    assert own[("model_stage1", "xray")] != swap[("model_stage1", "xray")]


def test_split_name_train_scores_the_training_items(tool, split, tmp_path):
    text = split.read_text()
    split.write_text(
        text.replace(
            'split = "validation"\ngroup = "xray.png"', 'split = "train"\ngroup = "xray.png"'
        )
    )
    ckpt = _two_stage(tmp_path / "two.pt", 0, zero_tail=True)
    assert _run(tool, split, ckpt, "--split-name", "train", "--out", tmp_path / "train.csv") == 0
    assert _run(tool, split, ckpt, "--out", tmp_path / "validation.csv") == 0
    assert {f for _, f in _psnr(tmp_path / "train.csv")} == {"xray"}
    assert {f for _, f in _psnr(tmp_path / "validation.csv")} == {"dermoscopy"}


def test_bad_checkpoints_are_one_line_errors(tool, split, tmp_path, capsys):
    nen = save_checkpoint(tmp_path / "nen.pt", build_model("nen", **SMALL).eval())
    assert _run(tool, split, nen) == 2
    assert capsys.readouterr().err == f"Error: {nen}: a 'nen' model has no stage II to measure\n"
    assert _run(tool, split, tmp_path / "missing.pt") == 2
    assert "no such checkpoint file" in capsys.readouterr().err
    other = save_checkpoint(tmp_path / "wide.pt", build_model("nen", width=16).eval())
    two = _two_stage(tmp_path / "two.pt", 0, zero_tail=True)
    assert _run(tool, split, two, "--nen-from", other) == 2
    assert "does not fit" in capsys.readouterr().err
    assert _run(tool, split, two, "--out", tmp_path / "no" / "rows.csv") == 2
    assert "no such folder for --out" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_bad_arguments_are_one_line_errors(tool, split, tmp_path, capsys):
    ckpt = _two_stage(tmp_path / "two.pt", 0, zero_tail=True)
    with pytest.raises(SystemExit) as exit_info:
        _run(tool, split, ckpt, "--split-name", "training")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: argument --split-name: invalid choice")
    assert err.count("\n") == 1
