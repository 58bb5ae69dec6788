"""Random training patches with Algorithm 1 noise, balanced across modalities.

Each patch: a family with equal odds (so the 320 dermoscopy photographs do not drown the
three radiographs), an image of that family, a slice, a random crop (reflect-padded when
the slice is smaller), a random flip and quarter turn, then the paper's Algorithm 1:
sigma ~ U(0, sigma_max), Gaussian or speckle with equal odds, clipped to [0, 1], and grey
repeated to three channels. By default a grey patch gets its noise before the repetition,
so its three channels carry the same noise, as a real grey image does at inference;
``grey_noise="per_channel"`` draws it after (three independent noises: how the first
default model was trained, and a model trained so learns to find the noise where the
channels disagree, which no grey image shows). ``clean_fraction`` leaves that share of
patches noise-free (noisy = clean), so the model learns to leave a clean image, and the
texture of a lightly noisy one, alone. ``downscale_fraction`` cuts that share of patches
from a slice shrunk by a factor drawn from [1, ``downscale_max``] (anti-aliased), so the
model also sees detail as fine as a low-resolution image has at the pixel scale, which the
training slices, mostly fine-sampled, rarely show. Everything is drawn from one seeded
generator whose state is saved in checkpoints, so a resumed run draws what the
uninterrupted run would have.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import numpy.typing as npt

from meddenoise.errors import InputError
from meddenoise.noise import add_random_noise
from meddenoise.train.images import TrainingImage

__all__ = ["GREY_NOISE", "PatchSampler", "SeededSampler", "downscaled_view", "random_view"]

#: How a grey patch gets its noise: once, repeated to the channels, or per channel.
GREY_NOISE = ("shared", "per_channel")

F32 = npt.NDArray[np.float32]


def random_view(chunk: np.ndarray, patch: int, rng: np.random.Generator) -> np.ndarray:
    """Return a random ``patch`` x ``patch`` window of ``(C, H, W)``, flipped and turned.

    The window is reflect-padded where the slice is smaller; the crop, a left-right flip
    (odds 1/2) and a quarter turn are drawn from ``rng`` in that order and applied to all
    channels alike (so stacked slices, e.g. a low-dose and a full-dose one, stay aligned).
    """
    _, height, width = chunk.shape
    if height < patch or width < patch:
        pad = ((0, 0), (0, max(0, patch - height)), (0, max(0, patch - width)))
        chunk = np.pad(chunk, pad, mode="reflect" if min(height, width) > 1 else "edge")
        _, height, width = chunk.shape
    y = int(rng.integers(height - patch + 1))
    x = int(rng.integers(width - patch + 1))
    out = chunk[:, y : y + patch, x : x + patch]
    if rng.random() < 0.5:
        out = out[:, :, ::-1]
    return np.rot90(out, k=int(rng.integers(4)), axes=(1, 2))


def downscaled_view(
    chunk: np.ndarray, patch: int, factor: float, rng: np.random.Generator
) -> np.ndarray:
    """Return a random view of ``(C, H, W)`` shrunk by ``factor`` to ``patch`` x ``patch``.

    A :func:`random_view` of ``ceil(patch * factor)`` pixels is smoothed against aliasing
    (skimage's ``resize``, linear, Gaussian ``sigma = (factor - 1) / 2``) and resized to
    ``patch``; values stay in the input's range.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> downscaled_view(np.ones((1, 40, 50), np.float32), 16, 2.5, rng).shape
    (1, 16, 16)
    """
    from skimage.transform import resize

    side = max(patch, math.ceil(patch * factor))
    view = random_view(chunk, side, rng)
    if side == patch:
        return view
    out = resize(
        np.ascontiguousarray(view, dtype=np.float32),
        (view.shape[0], patch, patch),
        order=1,
        anti_aliasing=True,
        preserve_range=True,
    )
    shrunk: np.ndarray = np.clip(out, float(view.min()), float(view.max()))
    return shrunk


class SeededSampler:
    """A sampler drawing from one seeded generator whose state goes into checkpoints."""

    rng: np.random.Generator

    def state(self) -> dict[str, Any]:
        """Return the generator's state (plain data, for checkpoints)."""
        return dict(self.rng.bit_generator.state)

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a saved :meth:`state`."""
        self.rng.bit_generator.state = state


class PatchSampler(SeededSampler):
    """Draw batches of ``(clean, noisy)`` patches, ``(B, 3, P, P)`` float32 in [0, 1].

    Parameters
    ----------
    images : list of TrainingImage
        The training images (at least one with a slice).
    patch : int
        Patch side.
    batch : int
        Patches per batch.
    sigma_max : float
        Algorithm 1's upper sigma on the 0..255 scale.
    seed : int
        Seed of the generator.
    weights : dict of str to float, optional
        Relative odds of each family (missing families weigh 1); equal odds when empty.
    grey_noise : {"shared", "per_channel"}
        Noise of a grey patch: drawn once and repeated to the three channels, or drawn
        for each channel after the repetition.
    clean_fraction : float
        Share of patches given no noise, in [0, 1). At 0 (the default) no extra number
        is drawn, so earlier runs reproduce.
    downscale_fraction : float
        Share of patches cut from a shrunk slice, in [0, 1): a window of
        ``ceil(patch * f)`` pixels, ``f ~ U(1, downscale_max)``, anti-aliased and resized
        to ``patch``. At 0 (the default) no extra number is drawn, so earlier runs
        reproduce.
    downscale_max : float
        Largest shrink factor (>= 1).

    Examples
    --------
    >>> from meddenoise.train.split import SplitItem
    >>> from pathlib import Path
    >>> item = SplitItem(Path("x"), "MR", "mri", "train", "g")
    >>> img = TrainingImage(item, [np.full((1, 20, 30), 0.5, np.float32)])
    >>> clean, noisy = PatchSampler([img], patch=16, batch=2, seed=0).sample()
    >>> clean.shape, noisy.dtype
    ((2, 3, 16, 16), dtype('float32'))
    """

    def __init__(
        self,
        images: list[TrainingImage],
        *,
        patch: int,
        batch: int,
        sigma_max: float = 75.0,
        seed: int = 0,
        weights: dict[str, float] | None = None,
        grey_noise: str = "shared",
        clean_fraction: float = 0.0,
        downscale_fraction: float = 0.0,
        downscale_max: float = 3.0,
    ) -> None:
        if grey_noise not in GREY_NOISE:
            raise InputError(f"grey_noise must be 'shared' or 'per_channel', not {grey_noise!r}")
        if not 0.0 <= clean_fraction < 1.0:
            raise InputError(f"clean_fraction must be in [0, 1), not {clean_fraction!r}")
        if not 0.0 <= downscale_fraction < 1.0:
            raise InputError(f"downscale_fraction must be in [0, 1), not {downscale_fraction!r}")
        if not downscale_max >= 1.0:
            raise InputError(f"downscale_max must be >= 1, not {downscale_max!r}")
        by_family: dict[str, list[TrainingImage]] = defaultdict(list)
        for image in images:
            if image.slices:
                by_family[image.family].append(image)
        if not by_family:
            raise InputError("no training image has a usable slice")
        self.families = sorted(by_family)
        odds = np.array([float((weights or {}).get(f, 1.0)) for f in self.families])
        if (odds < 0).any() or not odds.sum() > 0:
            raise InputError("family weights must be >= 0 with one of them > 0")
        # Equal odds keep the original draw (rng.integers), so earlier runs reproduce.
        self.odds = None if np.all(odds == odds[0]) else odds / odds.sum()
        self.by_family = dict(by_family)
        self.patch = patch
        self.batch = batch
        self.sigma_max = sigma_max
        self.seed = seed
        self.grey_noise = grey_noise
        self.clean_fraction = clean_fraction
        self.downscale_fraction = downscale_fraction
        self.downscale_max = downscale_max
        self.rng = np.random.default_rng(seed)

    def sample(self) -> tuple[F32, F32]:
        """Draw one batch from the sampler's own generator: ``(clean, noisy)``."""
        return self._draw(self.rng)

    def sample_at(self, index: int, stream: int = 0) -> tuple[F32, F32]:
        """Draw batch number ``index`` of stream ``stream``, independent of any other batch.

        The batch depends only on ``(seed, stream, index)``, so batches can be drawn in
        any order, by any number of worker processes, and a run resumed at step ``k``
        draws batch ``k`` exactly as the uninterrupted run did.
        """
        return self._draw(np.random.default_rng([self.seed, stream, index]))

    def _draw(self, rng: np.random.Generator) -> tuple[F32, F32]:
        clean = np.empty((self.batch, 3, self.patch, self.patch), dtype=np.float32)
        noisy = np.empty_like(clean)
        for b in range(self.batch):
            patch = self._patch(rng)
            if patch.shape[0] == 1 and self.grey_noise == "per_channel":
                patch = np.repeat(patch, 3, axis=0)
            clean[b] = patch  # a grey patch broadcasts to the three channels
            if self.clean_fraction > 0 and rng.random() < self.clean_fraction:
                noisy[b] = patch
            else:
                noisy[b], _ = add_random_noise(patch, rng=rng, sigma_max=self.sigma_max)
        return clean, noisy

    def _patch(self, rng: np.random.Generator) -> F32:
        if self.odds is None:
            family = self.families[int(rng.integers(len(self.families)))]
        else:
            family = self.families[int(rng.choice(len(self.families), p=self.odds))]
        candidates = self.by_family[family]
        image = candidates[int(rng.integers(len(candidates)))]
        chunk = image.slices[int(rng.integers(len(image.slices)))]
        if self.downscale_fraction > 0 and rng.random() < self.downscale_fraction:
            out = downscaled_view(chunk, self.patch, rng.uniform(1.0, self.downscale_max), rng)
        else:
            out = random_view(chunk, self.patch, rng)
        result: F32 = np.ascontiguousarray(out, dtype=np.float32)
        return result
