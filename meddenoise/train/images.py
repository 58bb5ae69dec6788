"""Training and validation images: files of any supported format as [0, 1] float slices.

Every item is read with :func:`meddenoise.io.read_image` and mapped to [0, 1] with the
same intensity contract as inference (:func:`meddenoise.intensity.plan_mapping`: CT
through the fixed HU window, 8-bit images through 0..255, others through the series'
range), so a model sees at training time exactly what it sees when it denoises. Grey
slices are kept as one channel (repeated to three when patches are drawn), colour slices
as three. Nearly flat slices (background outside a volume) are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from meddenoise.errors import InputError
from meddenoise.train.split import SplitItem

__all__ = ["TrainingImage", "load_images", "slices_of"]

F32 = npt.NDArray[np.float32]


@dataclass
class TrainingImage:
    """The usable slices of one split item.

    Attributes
    ----------
    item : SplitItem
        Where it came from.
    slices : list of ndarray
        ``(C, H, W)`` float32 in [0, 1], C = 1 (grey) or 3 (colour).
    mapping : dict
        The intensity mapping used (plain data, recorded in checkpoints).
    """

    item: SplitItem
    slices: list[F32] = field(default_factory=list)
    mapping: dict[str, object] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """Reported modality of the item."""
        return self.item.family


def slices_of(
    item: SplitItem, *, min_std: float = 0.01, max_slices: int | None = None
) -> TrainingImage:
    """Read one item and return its usable slices in [0, 1].

    Parameters
    ----------
    item : SplitItem
        File or series to read.
    min_std : float
        Slices whose standard deviation in [0, 1] is below this are dropped (empty
        background at the ends of a volume).
    max_slices : int, optional
        Keep at most this many slices, evenly spaced through the volume.

    Returns
    -------
    TrainingImage
    """
    from meddenoise.intensity import plan_mapping, to_model
    from meddenoise.io import read_image

    image = read_image(item.path, modality=item.modality)
    mapping = plan_mapping(image)
    indices = np.arange(image.n_slices)
    if max_slices is not None and image.n_slices > max_slices:
        indices = np.unique(np.linspace(0, image.n_slices - 1, max_slices).round().astype(int))
    out = TrainingImage(item=item, mapping=mapping.to_dict())
    for k in indices:
        x, _ = to_model(image, mapping, start=int(k), stop=int(k) + 1)
        chunk = x[0] if image.is_color else x[0, :1]
        if float(chunk.std()) >= min_std:
            out.slices.append(np.ascontiguousarray(chunk, dtype=np.float32))
    return out


def load_images(
    items: Iterable[SplitItem],
    *,
    split: str | None = None,
    families: Iterable[str] | None = None,
    min_std: float = 0.01,
    max_slices: int | None = None,
) -> list[TrainingImage]:
    """Read the items of one split (and families), dropping items with no usable slice.

    Raises
    ------
    InputError
        When nothing usable is left.
    """
    wanted = set(families) if families is not None else None
    chosen = [
        item
        for item in items
        if (split is None or item.split == split) and (wanted is None or item.family in wanted)
    ]
    images = [slices_of(item, min_std=min_std, max_slices=max_slices) for item in chosen]
    images = [image for image in images if image.slices]
    if not images:
        raise InputError(f"no usable images for split {split!r} and families {wanted}")
    return images
