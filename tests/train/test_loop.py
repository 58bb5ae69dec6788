import json
from pathlib import Path

import pytest
import torch

from meddenoise.checkpoint import load_checkpoint
from meddenoise.errors import InputError
from meddenoise.models import build_model
from meddenoise.train.config import TrainConfig
from meddenoise.train.loop import paper_loss, train


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


def _synthetic_images():
    """Training and validation images made in memory (no reader involved)."""
    import numpy as np

    from meddenoise.train.images import TrainingImage
    from meddenoise.train.split import SplitItem

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:40, :48]

    def image(family, split, channels, shift):
        item = SplitItem(Path(f"{family}-{split}.png"), "OT", family, split, family)
        base = (np.sin(xx / 4.0 + shift) * np.cos(yy / 6.0) * 0.3 + 0.5).astype(np.float32)
        slices = [
            np.repeat(base[None], channels, axis=0)
            + rng.normal(0, 0.01, (channels, 40, 48)).astype(np.float32)
            for _ in range(2)
        ]
        return TrainingImage(item, [np.clip(s, 0, 1) for s in slices], {"kind": "fixed"})

    train_set = [image("ct", "train", 1, 0.0), image("dermoscopy", "train", 3, 1.0)]
    val_set = [image("ct", "validation", 1, 2.0), image("dermoscopy", "validation", 3, 3.0)]
    return train_set, val_set


def test_batches_drawn_by_worker_processes_train_the_same_model(tiny_config, tmp_path):
    images = _synthetic_images()
    inline = train(tiny_config, tmp_path / "a", images=images)
    pooled = train(tiny_config, tmp_path / "b", images=images, workers=2)
    assert inline.steps == pooled.steps == 4
    a = load_checkpoint(tmp_path / "a" / "last.pt").state_dict
    b = load_checkpoint(tmp_path / "b" / "last.pt").state_dict
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)


def test_training_runs_on_each_device_and_saves_cpu_checkpoints(tiny_config, tmp_path, device):
    images = _synthetic_images()
    config = TrainConfig.from_dict({**tiny_config.to_dict(), "steps": 6})
    result = train(config, tmp_path / "run", images=images, device=device)
    assert result.steps == 6
    assert result.best_psnr is not None
    raw = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=True)
    tensors = list(raw["state_dict"].values()) + [
        t
        for state in raw["optimizer"]["state"].values()
        for t in state.values()
        if isinstance(t, torch.Tensor)
    ]
    assert all(t.device.type == "cpu" for t in tensors)
    # A CPU run resumes a run made on this device and goes on to the end.
    longer = TrainConfig.from_dict({**config.to_dict(), "steps": 8, "validate_every": 4})
    assert train(longer, tmp_path / "run", images=images, resume=True).steps == 8


def test_init_starts_from_a_checkpoint_and_resume_keeps_its_record(tiny_config, tmp_path):
    images = _synthetic_images()
    first = train(tiny_config, tmp_path / "a", images=images)
    start = load_checkpoint(first.out_dir / "last.pt")
    config = TrainConfig.from_dict(
        {**tiny_config.to_dict(), "init": str(first.out_dir / "last.pt"), "steps": 2, "lr": 1e-12}
    )
    second = train(config, tmp_path / "b", images=images)
    after = load_checkpoint(second.out_dir / "last.pt")
    for name, tensor in start.state_dict.items():  # lr ~0: the weights stay those of init
        torch.testing.assert_close(after.state_dict[name], tensor, rtol=0, atol=1e-6)
    digest = after.training["init_sha256"]
    assert len(digest) == 64
    longer = TrainConfig.from_dict({**config.to_dict(), "steps": 4})
    train(longer, tmp_path / "b", images=images, resume=True)
    assert load_checkpoint(tmp_path / "b" / "last.pt").training["init_sha256"] == digest


def test_init_of_another_architecture_is_refused(tiny_config, tmp_path):
    images = _synthetic_images()
    nen = TrainConfig.from_dict({**tiny_config.to_dict(), "arch": "nen", "steps": 1})
    train(nen, tmp_path / "nen", images=images)
    config = TrainConfig.from_dict(
        {**tiny_config.to_dict(), "init": str(tmp_path / "nen" / "last.pt")}
    )
    with pytest.raises(InputError, match="init holds a nen model"):
        train(config, tmp_path / "b", images=images)


def test_a_run_saved_before_the_new_options_resumes(tiny_config, tmp_path):
    images = _synthetic_images()
    short = TrainConfig.from_dict({**tiny_config.to_dict(), "steps": 2})
    train(short, tmp_path / "run", images=images)
    last = tmp_path / "run" / "last.pt"
    raw = torch.load(last, map_location="cpu", weights_only=True)
    for name in ("family_weights", "init", "grey_noise", "clean_fraction", "image_loss"):
        del raw["training"]["config"][name]
    torch.save(raw, last)
    # such a run drew per-channel grey noise: resuming it with shared noise is refused
    with pytest.raises(InputError, match=r"other options \(grey_noise\)"):
        train(tiny_config, tmp_path / "run", images=images, resume=True)
    old = TrainConfig.from_dict({**tiny_config.to_dict(), "grey_noise": "per_channel"})
    assert train(old, tmp_path / "run", images=images, resume=True).steps == 4


def test_clean_fraction_is_recorded_and_fixed_for_a_resumed_run(tiny_config, tmp_path):
    images = _synthetic_images()
    config = TrainConfig.from_dict({**tiny_config.to_dict(), "steps": 2, "clean_fraction": 0.2})
    train(config, tmp_path / "run", images=images)
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt.training["config"]["clean_fraction"] == 0.2
    assert "0.2 of patches noise-free" in ckpt.training["noise"]
    with pytest.raises(InputError, match=r"other options \(clean_fraction\)"):
        train(tiny_config, tmp_path / "run", images=images, resume=True)


def test_stagewise_training_starts_as_the_nen_and_keeps_it_fixed(tiny_config, tmp_path):
    images = _synthetic_images()
    nen = TrainConfig.from_dict({**tiny_config.to_dict(), "arch": "nen", "steps": 2})
    train(nen, tmp_path / "nen", images=images)
    stage_one = load_checkpoint(tmp_path / "nen" / "last.pt")
    config = TrainConfig.from_dict(
        {
            **tiny_config.to_dict(),
            "init_nen": str(tmp_path / "nen" / "last.pt"),
            "freeze_nen": True,
            "steps": 2,
        }
    )
    # lr ~0: the starting model itself, which must denoise exactly as the NEN alone does
    still = TrainConfig.from_dict({**config.to_dict(), "lr": 1e-12})
    train(still, tmp_path / "still", images=images)
    start = load_checkpoint(tmp_path / "still" / "last.pt").build().eval()
    alone = stage_one.build().eval()
    x = torch.rand(2, 3, 20, 24)
    with torch.no_grad():
        torch.testing.assert_close(start(x).clean, alone(x).clean, rtol=0, atol=1e-5)

    train(config, tmp_path / "run", images=images)
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    for name, tensor in stage_one.state_dict.items():  # stage I is frozen
        torch.testing.assert_close(ckpt.state_dict[f"nen.{name}"], tensor, rtol=0, atol=0)
    assert ckpt.state_dict["rn.tail.weight"].abs().sum() > 0  # stage II has learnt
    digest = ckpt.training["init_nen_sha256"]
    assert len(digest) == 64
    longer = TrainConfig.from_dict({**config.to_dict(), "steps": 4})
    train(longer, tmp_path / "run", images=images, resume=True)
    resumed = load_checkpoint(tmp_path / "run" / "last.pt")
    assert resumed.training["init_nen_sha256"] == digest
    torch.testing.assert_close(
        resumed.state_dict["nen.head.weight"], stage_one.state_dict["head.weight"]
    )
    thawed = TrainConfig.from_dict({**longer.to_dict(), "freeze_nen": False})
    with pytest.raises(InputError, match=r"other options \(freeze_nen\)"):
        train(thawed, tmp_path / "run", images=images, resume=True)


def test_init_may_rewire_stage_two_to_see_the_estimate(tiny_config, tmp_path):
    images = _synthetic_images()
    first = train(tiny_config, tmp_path / "a", images=images)
    start = load_checkpoint(first.out_dir / "last.pt")
    config = TrainConfig.from_dict(
        {
            **tiny_config.to_dict(),
            "model": {**tiny_config.model, "stage_two_input": "estimate"},
            "init": str(first.out_dir / "last.pt"),
            "steps": 2,
        }
    )
    train(config, tmp_path / "b", images=images)
    ckpt = load_checkpoint(tmp_path / "b" / "last.pt")
    assert ckpt.config["stage_two_input"] == "estimate"
    assert set(ckpt.state_dict) == set(start.state_dict)
    # the rebuilt model keeps the wiring: stage II sees noisy - noise
    net = ckpt.build().eval()
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        noise = net.nen.estimate_noise(x)
        torch.testing.assert_close(net(x).clean, x - noise + net.rn(x - noise, noise))


def test_a_bad_model_option_is_refused_before_the_run_folder_exists(tiny_config, tmp_path):
    config = TrainConfig.from_dict(
        {**tiny_config.to_dict(), "model": {"depth": 1, "stage_two_input": "clean"}}
    )
    with pytest.raises(InputError, match="stage_two_input must be one of"):
        train(config, tmp_path / "run", images=_synthetic_images())
    assert not (tmp_path / "run").exists()


def test_init_nen_must_hold_a_nen_of_the_same_configuration(tiny_config, tmp_path):
    images = _synthetic_images()
    train(
        TrainConfig.from_dict({**tiny_config.to_dict(), "steps": 1}), tmp_path / "a", images=images
    )
    config = TrainConfig.from_dict(
        {**tiny_config.to_dict(), "init_nen": str(tmp_path / "a" / "last.pt")}
    )
    with pytest.raises(InputError, match="init_nen holds a two_stage model"):
        train(config, tmp_path / "b", images=images)


@pytest.mark.parametrize("arch", ["two_stage", "twn"])
def test_the_image_loss_is_l1_or_mse_and_the_noise_term_mse_either_way(arch):
    torch.manual_seed(0)
    model = build_model(arch).eval()
    clean = torch.rand(2, 3, 12, 12)
    noisy = (clean + 0.1 * torch.randn_like(clean)).clamp(0, 1)
    with torch.no_grad():
        out = model(noisy)
        noise = torch.mean((out.noise - (noisy - clean)) ** 2)
        l1 = paper_loss(model, arch, clean, noisy)
        mse = paper_loss(model, arch, clean, noisy, image_loss="mse")
    torch.testing.assert_close(l1, noise + torch.mean(torch.abs(out.clean - clean)))
    torch.testing.assert_close(mse, noise + torch.mean((out.clean - clean) ** 2))
    with pytest.raises(ValueError, match="image_loss"):
        paper_loss(model, arch, clean, noisy, image_loss="l2")


def test_image_loss_is_recorded_and_fixed_for_a_resumed_run(tiny_config, tmp_path):
    images = _synthetic_images()
    config = TrainConfig.from_dict({**tiny_config.to_dict(), "steps": 2, "image_loss": "mse"})
    train(config, tmp_path / "run", images=images)
    assert load_checkpoint(tmp_path / "run" / "last.pt").training["config"]["image_loss"] == "mse"
    with pytest.raises(InputError, match=r"other options \(image_loss\)"):
        train(tiny_config, tmp_path / "run", images=images, resume=True)
    longer = TrainConfig.from_dict({**config.to_dict(), "steps": 3})
    assert train(longer, tmp_path / "run", images=images, resume=True).steps == 3
