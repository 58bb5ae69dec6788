"""Self-describing checkpoints (DESIGN.md section 6).

A checkpoint is one file written by :func:`torch.save` holding only plain data (dicts,
lists, strings, numbers, booleans, None and tensors)::

    {format_version, arch, config, normalization, state_dict,
     training: {data, steps, noise, ...}, metrics, meddenoise_version}

It is always read with ``torch.load(weights_only=True)``: no arbitrary object is ever
unpickled, so a checkpoint from an untrusted source cannot run code.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meddenoise._version import __version__
from meddenoise.errors import CheckpointError
from meddenoise.models import available_models, build_model

if TYPE_CHECKING:
    import torch

    from meddenoise.models.base import Denoiser

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "export_checkpoint",
    "file_digest",
    "load_checkpoint",
    "save_checkpoint",
]

#: Version of the file layout; bumped when a reader of the old layout could misread a file.
FORMAT_VERSION = 1

_REQUIRED = ("format_version", "arch", "config", "state_dict")


@dataclass
class Checkpoint:
    """A loaded checkpoint: everything needed to rebuild and describe a model.

    Attributes
    ----------
    arch : str
        Registry name of the architecture.
    config : dict
        Constructor arguments of the architecture.
    state_dict : dict
        Parameter tensors (on the CPU).
    normalization : dict
        How training data was mapped to [0, 1] (see :mod:`meddenoise.intensity`).
    training : dict
        What the model was trained on: ``data``, ``steps``, ``noise`` and more.
    metrics : dict
        Validation metrics measured when it was saved.
    meddenoise_version : str
        Version of the toolkit that wrote it.
    format_version : int
        Layout version of the file.
    """

    arch: str
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    normalization: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    meddenoise_version: str = __version__
    format_version: int = FORMAT_VERSION

    def build(self) -> Denoiser:
        """Rebuild the model with these weights, in eval mode, on the CPU.

        Raises
        ------
        CheckpointError
            If the weights do not fit the architecture.
        """
        model = build_model(self.arch, **self.config)
        try:
            model.load_state_dict(self.state_dict, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(
                f"checkpoint weights do not fit architecture {self.arch!r}: {first}"
            ) from None
        return model.eval()


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Denoiser,
    *,
    normalization: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` and its description to ``path`` atomically.

    The file is written under a temporary name in the same folder and renamed, so a crash
    never leaves a half-written checkpoint behind.

    Parameters
    ----------
    path : path-like
        Destination file (conventionally ``*.pt``).
    model : Denoiser
        A registered architecture (its ``arch`` and ``config`` are recorded).
    normalization, training, metrics : mapping, optional
        Plain-data descriptions stored with the weights.
    extra : mapping, optional
        More top-level plain-data entries (e.g. optimizer state for resuming).

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    CheckpointError
        If the model is not a registered architecture or a description holds something
        other than plain data (it could not be loaded with ``weights_only=True``).
    """
    import torch

    if model.arch not in available_models():
        raise CheckpointError(f"model {type(model).__name__} has no registered architecture")
    payload: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "arch": model.arch,
        "config": dict(model.config),
        "normalization": dict(normalization or {}),
        "training": dict(training or {}),
        "metrics": dict(metrics or {}),
        "meddenoise_version": __version__,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    for key, value in (extra or {}).items():
        if key in payload:
            raise CheckpointError(f"extra checkpoint entry {key!r} would replace a standard one")
        payload[key] = value
    _check_plain(payload, "checkpoint")
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint safely (``weights_only=True``) and check that it is complete.

    Parameters
    ----------
    path : path-like
        A file written by :func:`save_checkpoint`.

    Returns
    -------
    Checkpoint

    Raises
    ------
    CheckpointError
        If the file is missing, truncated, not a checkpoint, holds objects that are not
        plain data, was written by a newer format, or names an unknown architecture.
    """
    import pickle
    import zipfile

    import torch

    source = Path(path)
    if not source.is_file():
        raise CheckpointError(f"{source}: no such checkpoint file")
    if not zipfile.is_zipfile(source):
        raise CheckpointError(f"{source}: corrupted or not a checkpoint (not a torch.save archive)")
    try:
        raw = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{source}: refused, holds objects that are not plain data ({_unsafe_reason(exc)})"
        ) from None
    except Exception as exc:  # any other failure to parse means a damaged file
        reason = str(exc).strip().split(".")[0][:120] or type(exc).__name__
        raise CheckpointError(f"{source}: corrupted or not a checkpoint ({reason})") from None
    if not isinstance(raw, dict) or any(key not in raw for key in _REQUIRED):
        raise CheckpointError(
            f"{source}: not a meddenoise checkpoint (needs keys {', '.join(_REQUIRED)})"
        )
    version = raw["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{source}: checkpoint format {version!r} is newer than this meddenoise "
            f"reads ({FORMAT_VERSION}); upgrade meddenoise"
        )
    arch = raw["arch"]
    if arch not in available_models():
        raise CheckpointError(
            f"{source}: unknown model architecture {arch!r}; valid: {', '.join(available_models())}"
        )
    state = raw["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{source}: state_dict is not a mapping of tensors")
    return Checkpoint(
        arch=arch,
        config=dict(raw["config"]),
        state_dict=state,
        normalization=dict(raw.get("normalization") or {}),
        training=dict(raw.get("training") or {}),
        metrics=dict(raw.get("metrics") or {}),
        meddenoise_version=str(raw.get("meddenoise_version", "unknown")),
        format_version=version,
    )


def file_digest(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 of a file as hex, read in chunks.

    Parameters
    ----------
    path : path-like
        Any file.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: Hex digits of the SHA-256 kept in a released checkpoint's file name.
DIGEST_CHARS = 12


def export_checkpoint(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    name: str = "default",
    metrics: Mapping[str, Any] | None = None,
) -> Path:
    """Write a release copy of a checkpoint as ``<name>-<sha256[:12]>.pt``.

    Only the standard entries are kept (training-only state such as the optimizer and the
    sampler is dropped), so a release file holds the weights and their description. The
    digest in the name is the SHA-256 of the written file: :func:`meddenoise.api.load_model`
    checks it before it uses the shipped default model.

    Parameters
    ----------
    source : path-like
        A checkpoint (e.g. ``runs/default/best.pt``).
    out_dir : path-like
        Folder to write into (e.g. ``meddenoise/weights``); it must exist.
    name : str
        File name stem before the digest.
    metrics : mapping, optional
        Replaces the recorded metrics (e.g. with an evaluation summary).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    CheckpointError
        If ``source`` is not a valid checkpoint or ``out_dir`` is not a folder.
    """
    folder = Path(out_dir)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such folder")
    if not name or "/" in name or name.startswith("."):
        raise CheckpointError(f"invalid release name {name!r}")
    ckpt = load_checkpoint(source)
    model = ckpt.build()
    staged = save_checkpoint(
        folder / f".{name}-staged.pt",
        model,
        normalization=ckpt.normalization,
        training=ckpt.training,
        metrics=ckpt.metrics if metrics is None else metrics,
    )
    staged.chmod(0o644)  # a release file is read by everyone who installs it
    target = folder / f"{name}-{file_digest(staged)[:DIGEST_CHARS]}.pt"
    os.replace(staged, target)
    return target


def _unsafe_reason(exc: Exception) -> str:
    """Pick the line of torch's weights-only refusal that names the offending object."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "unsupported" in line.lower():
            return line.rstrip(".")[:160]
    return "weights_only=True refused it"


def _check_plain(value: Any, where: str) -> None:
    """Raise if ``value`` holds anything ``torch.load(weights_only=True)`` would refuse."""
    import torch

    if value is None or isinstance(value, (str, int, float, bool, torch.Tensor)):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise CheckpointError(f"{where}: key {key!r} is not a string or integer")
            _check_plain(item, f"{where}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
        return
    raise CheckpointError(f"{where}: {type(value).__name__} is not plain data")
