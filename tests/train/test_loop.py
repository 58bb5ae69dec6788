import json

import pytest
import torch

from meddenoise.checkpoint import load_checkpoint
from meddenoise.errors import InputError
from meddenoise.train.config import TrainConfig
from meddenoise.train.loop import train


def test_a_short_run_writes_checkpoints_and_a_log(tiny_config, tmp_path):
    reports = []
    result = train(tiny_config, tmp_path / "run", on_step=reports.append)
    assert result.steps == 4
    assert [r.step for r in reports] == [1, 2, 3, 4]
    assert all(r.loss > 0 for r in reports)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [2, 4]
    assert {"ct", "dermoscopy", "mean", "ct_noisy"} <= set(log[0])
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt.arch == "two_stage"
    assert ckpt.training["steps"] == 4
    assert ckpt.training["config"]["patch"] == 16
    assert ckpt.build().config["depth"] == 1
    assert load_checkpoint(tmp_path / "run" / "best.pt").metrics["mean"] == result.best_psnr


def test_resume_continues_exactly_where_an_uninterrupted_run_would_be(tiny_config, tmp_path):
    straight = train(tiny_config, tmp_path / "a")
    short = TrainConfig.from_dict({**tiny_config.to_dict(), "steps": 2})
    train(short, tmp_path / "b")
    resumed = train(tiny_config, tmp_path / "b", resume=True)
    assert straight.steps == resumed.steps == 4
    a = load_checkpoint(tmp_path / "a" / "last.pt").state_dict
    b = load_checkpoint(tmp_path / "b" / "last.pt").state_dict
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)


def test_a_stopped_run_checkpoints_and_refuses_to_be_overwritten(tiny_config, tmp_path):
    result = train(tiny_config, tmp_path / "run", max_seconds=0.0)
    assert result.steps == 1
    assert load_checkpoint(tmp_path / "run" / "last.pt").training["steps"] == 1
    with pytest.raises(InputError, match="holds a run"):
        train(tiny_config, tmp_path / "run")
    other = TrainConfig.from_dict({**tiny_config.to_dict(), "lr": 1e-3})
    with pytest.raises(InputError, match="other options"):
        train(other, tmp_path / "run", resume=True)
    with pytest.raises(InputError, match="nothing to resume"):
        train(tiny_config, tmp_path / "empty", resume=True)


def test_an_interrupted_run_keeps_its_last_steps(tiny_config, tmp_path):
    config = TrainConfig.from_dict({**tiny_config.to_dict(), "checkpoint_every": 100})

    def interrupt(report):
        if report.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", on_step=interrupt)
    assert load_checkpoint(tmp_path / "run" / "last.pt").training["steps"] == 3
    assert train(config, tmp_path / "run", resume=True).steps == 4
