"""Training configuration: a frozen dataclass, read from and written to TOML.

Example ``train.toml``::

    split = "configs/split.toml"
    arch = "two_stage"
    steps = 20000
    patch = 64
    batch = 24
    lr = 5e-4
    precision = "fp32"

Unknown keys are an error (a typo must not silently train something else).
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from meddenoise.errors import InputError
from meddenoise.train.patches import GREY_NOISE
from meddenoise.train.split import FAMILIES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["IMAGE_LOSSES", "TrainConfig", "load_config"]

#: Losses the output image of a two-stage or TWN model may be trained with.
IMAGE_LOSSES = ("l1", "mse")
#: Architectures with two stages (a NEN and an RN), which the stage options apply to.
_TWO_STAGES = ("two_stage", "twn")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run computes.

    Attributes
    ----------
    split : str
        Split file (relative paths are relative to the working folder).
    arch : str
        Architecture: ``nen``, ``twn`` or ``two_stage``.
    model : dict
        Extra constructor arguments (the paper's configuration when empty).
    families : tuple of str
        Modalities to train on; patches are drawn with equal odds per family unless
        ``family_weights`` says otherwise.
    family_weights : dict of str to float
        Relative odds of a family in the patch mix (missing families weigh 1), e.g.
        ``{xray = 2}`` draws radiograph patches twice as often as each other family.
    init : str
        Start from these weights instead of random ones: ``"default"`` (the shipped
        model) or a checkpoint of the same architecture; empty for random weights.
    init_nen : str
        Two-stage models only: take stage I from this ``nen`` checkpoint (after ``init``)
        and zero stage II's output layer, so the run starts out exactly as that NEN alone
        and stage II learns only corrections on top of it (stagewise training).
    freeze_nen : bool
        Two-stage models only: keep stage I's weights fixed and train stage II alone.
    grey_noise : {"shared", "per_channel"}
        Noise of grey patches: ``"shared"`` draws it once and repeats it to the three
        channels, as in a real grey image; ``"per_channel"`` draws three independent
        noises (the first default model's training, which left it blind to grey noise).
    image_loss : {"l1", "mse"}
        Loss of the output image (two-stage and TWN models): ``"l1"``, the paper's, or
        ``"mse"``, the error PSNR measures (the noise term is MSE either way).
    clean_fraction : float
        Share of training patches left noise-free, in [0, 1): teaches the model to leave
        clean images and their own texture alone (0, the paper's recipe, by default).
    downscale_fraction : float
        Share of training patches cut from a slice shrunk by up to ``downscale_max``
        (anti-aliased), in [0, 1): shows the model fine detail at the pixel scale, as
        low-resolution images have it (0, the paper's recipe, by default).
    downscale_max : float
        Largest shrink factor of those patches (>= 1).
    steps : int
        Optimizer steps in all.
    patch, batch : int
        Patch side and patches per step (per process when distributed).
    lr : float
        Adam learning rate; ``betas`` its moment decays (the paper: 5e-4, (0.9, 0.99)).
    betas : tuple of float
        Adam's betas.
    schedule : {"constant", "cosine"}
        Learning rate over the run; cosine decays to ``lr * min_lr_ratio``.
    min_lr_ratio : float
        End of the cosine decay as a fraction of ``lr``.
    sigma_max : float
        Algorithm 1's upper sigma (0..255 scale).
    precision : {"fp32", "bf16"}
        Autocast for forward and loss.
    seed : int
        Seeds weights, patch sampling and noise.
    max_slices : int
        Slices kept per volume (evenly spaced).
    checkpoint_every, validate_every : int
        Steps between checkpoints and between validations.
    val_crops : int
        Validation crops per family (fixed, seeded).
    val_crop : int
        Side of a validation crop.
    val_sigmas : tuple of float
        Noise levels of the validation set (each with Gaussian and speckle noise).
    """

    split: str = "configs/split.toml"
    arch: str = "two_stage"
    model: dict[str, Any] = field(default_factory=dict)
    families: tuple[str, ...] = FAMILIES
    family_weights: dict[str, float] = field(default_factory=dict)
    init: str = ""
    init_nen: str = ""
    freeze_nen: bool = False
    grey_noise: str = "shared"
    clean_fraction: float = 0.0
    downscale_fraction: float = 0.0
    downscale_max: float = 3.0
    image_loss: str = "l1"
    steps: int = 20000
    patch: int = 64
    batch: int = 24
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.99)
    schedule: str = "constant"
    min_lr_ratio: float = 0.1
    sigma_max: float = 75.0
    precision: str = "fp32"
    seed: int = 0
    max_slices: int = 40
    checkpoint_every: int = 50
    validate_every: int = 250
    val_crops: int = 4
    val_crop: int = 96
    val_sigmas: tuple[float, ...] = (25.0, 50.0)

    def __post_init__(self) -> None:
        problems = []
        if self.steps < 1 or self.patch < 8 or self.batch < 1:
            problems.append("steps >= 1, patch >= 8 and batch >= 1")
        if not self.lr > 0 or not all(0 <= b < 1 for b in self.betas):
            problems.append("lr > 0 and betas in [0, 1)")
        if self.schedule not in ("constant", "cosine"):
            problems.append("schedule 'constant' or 'cosine'")
        if self.precision not in ("fp32", "bf16"):
            problems.append("precision 'fp32' or 'bf16'")
        if self.grey_noise not in GREY_NOISE:
            problems.append("grey_noise 'shared' or 'per_channel'")
        if not (isinstance(self.clean_fraction, int | float) and 0 <= self.clean_fraction < 1):
            problems.append("clean_fraction in [0, 1)")
        if not (
            isinstance(self.downscale_fraction, int | float) and 0 <= self.downscale_fraction < 1
        ):
            problems.append("downscale_fraction in [0, 1)")
        if not (isinstance(self.downscale_max, int | float) and self.downscale_max >= 1):
            problems.append("downscale_max >= 1")
        if self.image_loss not in IMAGE_LOSSES:
            problems.append("image_loss 'l1' or 'mse'")
        elif self.image_loss != "l1" and self.arch not in _TWO_STAGES:
            problems.append("image_loss 'mse' only with arch 'two_stage' or 'twn'")
        if unknown := set(self.families) - set(FAMILIES):
            problems.append(f"families among {', '.join(FAMILIES)} (not {sorted(unknown)})")
        weights = self.family_weights
        if set(weights) - set(self.families) or not all(
            isinstance(w, int | float) and w >= 0 for w in weights.values()
        ):
            problems.append("family_weights: trained families with weights >= 0")
        elif not any(weights.get(f, 1.0) > 0 for f in self.families):
            problems.append("family_weights: at least one weight > 0")
        if (self.init_nen or self.freeze_nen) and self.arch not in _TWO_STAGES:
            problems.append("init_nen and freeze_nen only with arch 'two_stage' or 'twn'")
        if self.freeze_nen not in (True, False):
            problems.append("freeze_nen true or false")
        if self.checkpoint_every < 1 or self.validate_every < 1:
            problems.append("checkpoint_every and validate_every >= 1")
        if problems:
            raise InputError(f"bad training configuration: needs {'; '.join(problems)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for checkpoints."""
        data = asdict(self)
        data["families"] = list(self.families)
        data["family_weights"] = {k: float(v) for k, v in self.family_weights.items()}
        data["betas"] = list(self.betas)
        data["val_sigmas"] = list(self.val_sigmas)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from plain data (TOML or a checkpoint); unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        if unknown := sorted(set(data) - names):
            raise InputError(f"unknown training option(s): {', '.join(unknown)}")
        values = dict(data)
        for key in ("families", "betas", "val_sigmas"):
            if key in values:
                values[key] = tuple(values[key])
        try:
            return cls(**values)
        except TypeError as exc:
            raise InputError(f"bad training configuration: {exc}") from None


def load_config(path: str | os.PathLike[str], **overrides: Any) -> TrainConfig:
    """Read a TOML training configuration, then apply ``overrides`` (None values ignored)."""
    source = Path(path)
    try:
        data = tomllib.loads(source.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{source}: cannot read the training configuration ({exc})") from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(data)
