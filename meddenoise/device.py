"""Compute device resolution: the one place that probes for CUDA and MPS.

The device is resolved once, at the boundary (the CLI, or the first API call), never as a
default argument evaluated at import time.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from meddenoise.errors import DeviceError

if TYPE_CHECKING:
    import torch

_SPEC = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn a device name into a :class:`torch.device` that exists on this machine.

    Parameters
    ----------
    spec : {"auto", "cpu", "cuda", "cuda:N", "mps"}
        ``"auto"`` picks the first CUDA device, else Apple's MPS, else the CPU.

    Returns
    -------
    torch.device

    Raises
    ------
    DeviceError
        If the name is malformed or the device is not available here.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("tpu")
    Traceback (most recent call last):
    ...
    meddenoise.errors.DeviceError: unknown device 'tpu'; use auto, cpu, cuda, cuda:N or mps
    """
    import torch

    match = _SPEC.match(spec.strip().lower())
    if match is None:
        raise DeviceError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps")
    kind, index = match.group(1), match.group(2)
    if index is not None and kind != "cuda":
        raise DeviceError(f"unknown device {spec!r}; only cuda takes an index (cuda:N)")
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", 0)
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "mps":
        if not _mps_available():
            raise DeviceError("device 'mps' requested but Apple MPS is not available here")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {spec!r} requested but CUDA is not available here")
    count = torch.cuda.device_count()
    number = int(index) if index is not None else 0
    if number >= count:
        raise DeviceError(
            f"device {spec!r} requested but only {count} CUDA device(s) exist "
            f"(cuda:0..cuda:{count - 1})"
        )
    return torch.device("cuda", number)


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
