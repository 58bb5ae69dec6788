import json

import pytest
import torch

from meddenoise.checkpoint import file_digest, load_checkpoint
from meddenoise.errors import InputError
from meddenoise.ldct.dataset import load_pair
from meddenoise.train.finetune import FinetuneConfig, finetune

from ..ldct.conftest import ct_pair, tiny_model  # noqa: F401  (fixtures)


@pytest.fixture
def series(ct_pair):  # noqa: F811
    return [load_pair(*ct_pair, block=4, val_fraction=0.25, guard=0)]


def config(**changes):
    base = dict(
        kernel="soft",
        steps=4,
        batch=2,
        patch=16,
        validate_every=2,
        checkpoint_every=2,
        val_crops=2,
        val_crop=24,
    )
    base.update(changes)
    return FinetuneConfig(**base)


def test_a_run_writes_checkpoints_that_record_kernel_data_and_start(series, tiny_model, tmp_path):  # noqa: F811
    result = finetune(series, tmp_path / "run", config(), start=tiny_model)
    assert result.steps == 4
    assert set(result.baseline) >= {"low_psnr", "start_psnr", "low_ssim", "start_rmse_hu"}
    assert {p.name for p in (tmp_path / "run").iterdir()} == {"best.pt", "last.pt", "log.jsonl"}
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 2, 4]
    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    record = ckpt.training["finetune"]
    assert record["kernel"] == "soft"
    assert record["from"]["sha256"] == file_digest(tiny_model)
    assert record["pairs"][0]["validation_slices"] == [4, 5, 6, 7]
    assert ckpt.training["config"]["lr"] == 5e-5
    assert ckpt.normalization["mappings"]["ct"] == "ct"
    assert set(ckpt.metrics) == {"psnr", "ssim", "rmse_hu"}


def test_resume_gives_what_an_uninterrupted_run_gives(series, tiny_model, tmp_path):  # noqa: F811
    finetune(series, tmp_path / "a", config(), start=tiny_model)
    finetune(series, tmp_path / "b", config(steps=2), start=tiny_model)
    finetune(series, tmp_path / "b", config(), resume=True)
    a = load_checkpoint(tmp_path / "a" / "last.pt").state_dict
    b = load_checkpoint(tmp_path / "b" / "last.pt").state_dict
    for key in a:
        assert torch.equal(a[key], b[key]), key
    with pytest.raises(InputError, match="other options"):
        finetune(series, tmp_path / "b", config(steps=6, lr=1e-3), resume=True)
    with pytest.raises(InputError, match="holds a run"):
        finetune(series, tmp_path / "b", config(), start=tiny_model)


def test_freezing_stage_one_keeps_its_weights(series, tiny_model, tmp_path):  # noqa: F811
    finetune(series, tmp_path / "run", config(freeze="nen", lr=1e-2), start=tiny_model)
    before = load_checkpoint(tiny_model).state_dict
    after = load_checkpoint(tmp_path / "run" / "last.pt").state_dict
    nen = [k for k in before if k.startswith("nen.")]
    rest = [k for k in before if not k.startswith("nen.") and before[k].is_floating_point()]
    assert nen
    assert rest
    assert all(torch.equal(before[k], after[k]) for k in nen)
    assert any(not torch.equal(before[k], after[k]) for k in rest)


def test_early_stopping_ends_a_run_that_stops_improving(series, tiny_model, tmp_path):  # noqa: F811
    result = finetune(
        series,
        tmp_path / "run",
        config(steps=50, validate_every=1, patience=2, min_delta=1e6),
        start=tiny_model,
    )
    assert result.stopped_early
    assert result.steps == 3  # first validation sets the best, two more without gain


def test_bad_options_are_refused():
    with pytest.raises(InputError, match="kernel"):
        FinetuneConfig(kernel="medium")
    with pytest.raises(InputError, match="freeze"):
        FinetuneConfig(kernel="soft", freeze="rn")
    with pytest.raises(InputError, match="unknown fine-tuning option"):
        FinetuneConfig.from_dict({"kernel": "soft", "stepz": 3})
