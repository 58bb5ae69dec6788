from pathlib import Path

import pytest

from meddenoise.errors import InputError
from meddenoise.models import build_model
from meddenoise.train.config import TrainConfig, load_config

REPO = Path(__file__).resolve().parents[2]
# Runs whose start is not under training/ (their configs say how to remake it).
UNCOMMITTED_STARTS = {"refine_xray.toml", "refine_xray2.toml"}
RUN_CONFIGS = sorted(p for p in (REPO / "configs").glob("*.toml") if p.name != "split.toml")


def test_defaults_are_the_papers_optimizer():
    cfg = TrainConfig()
    assert (cfg.lr, cfg.betas, cfg.batch, cfg.sigma_max) == (5e-4, (0.9, 0.99), 24, 75.0)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_toml_with_overrides_and_typos(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('arch = "nen"\nsteps = 10\nbetas = [0.8, 0.9]\n')
    cfg = load_config(path, steps=3, patch=None)
    assert (cfg.arch, cfg.steps, cfg.betas) == ("nen", 3, (0.8, 0.9))
    path.write_text("stesp = 10\n")
    with pytest.raises(InputError, match="unknown training option"):
        load_config(path)


@pytest.mark.parametrize(
    "bad",
    [
        {"steps": 0},
        {"lr": 0.0},
        {"precision": "fp16"},
        {"families": ("pet",)},
        {"family_weights": {"pet": 1.0}},
        {"family_weights": {"ct": -1.0}},
        {"family_weights": {"ct": "2"}},
        {"families": ("ct",), "family_weights": {"ct": 0.0}},
        {"grey_noise": "independent"},
        {"clean_fraction": 1.0},
        {"clean_fraction": -0.1},
        {"downscale_fraction": 1.0},
        {"downscale_fraction": "half"},
        {"downscale_max": 0.5},
        {"arch": "nen", "init_nen": "nen.pt"},
        {"arch": "nen", "freeze_nen": True},
        {"freeze_nen": "yes"},
        {"image_loss": "l2"},
        {"arch": "nen", "image_loss": "mse"},
    ],
)
def test_bad_values(bad):
    with pytest.raises(InputError, match="bad training configuration"):
        TrainConfig(**bad)


def test_family_weights_and_init_read_from_toml(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('init = "default"\nfamily_weights = { xray = 3, mri = 2.5 }\n')
    cfg = load_config(path)
    assert cfg.init == "default"
    assert cfg.family_weights == {"xray": 3, "mri": 2.5}
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("name", "default", "other"),
    [("grey_noise", "shared", "per_channel"), ("image_loss", "l1", "mse")],
)
def test_a_choice_keeps_its_default_unless_told(tmp_path, name, default, other):
    assert getattr(TrainConfig(), name) == default
    path = tmp_path / "t.toml"
    path.write_text(f'{name} = "{other}"\n')
    cfg = load_config(path)
    assert getattr(cfg, name) == other
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.name)
def test_every_committed_run_configuration_loads_and_its_starts_exist(path):
    cfg = load_config(path)
    build_model(cfg.arch, **cfg.model)
    assert (REPO / cfg.split).is_file()
    for start in (cfg.init, cfg.init_nen):
        if start and start != "default" and path.name not in UNCOMMITTED_STARTS:
            assert (REPO / start).is_file(), start


def test_the_from_scratch_pair_differs_only_in_architecture():
    joint = load_config(REPO / "configs" / "scratch_joint.toml").to_dict()
    nen = load_config(REPO / "configs" / "scratch_nen.toml").to_dict()
    assert (joint.pop("arch"), nen.pop("arch")) == ("two_stage", "nen")
    assert joint == nen
