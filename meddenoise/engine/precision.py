"""Choosing the arithmetic precision of inference: fp32, bf16 or fp16.

``auto`` would pick bf16 where the hardware runs it natively (CPUs with AVX-512 BF16 or
AMX, CUDA devices that support it), but only once its accuracy cost has been measured
against fp32 with a trained checkpoint (at most 0.05 dB of PSNR). Until that measurement
exists, :data:`BF16_VALIDATED` is false and ``auto`` means fp32 everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meddenoise.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = ["BF16_VALIDATED", "PRECISIONS", "bf16_native", "resolve_precision"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")

#: Set once bf16's PSNR cost against fp32 has been measured <= 0.05 dB with the default
#: model (see docs/benchmarks.md); until then ``auto`` never picks bf16.
BF16_VALIDATED = False


def bf16_native(device: torch.device) -> bool:
    """Tell whether bf16 arithmetic runs natively on ``device`` (not emulated)."""
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        cpu = torch.cpu
        for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
            check = getattr(cpu, probe, None)
            if check is not None and check():
                return True
    return False


def resolve_precision(spec: str, device: torch.device) -> str:
    """Turn ``auto | fp32 | bf16 | fp16`` into the precision to run on ``device``.

    Raises
    ------
    InputError
        For an unknown name, or fp16 on a CPU (not supported there).
    """
    name = spec.strip().lower()
    if name not in PRECISIONS:
        raise InputError(f"unknown precision {spec!r}; use {', '.join(PRECISIONS)}")
    if name == "auto":
        return "bf16" if BF16_VALIDATED and bf16_native(device) else "fp32"
    if name == "fp16" and device.type == "cpu":
        raise InputError("precision fp16 is not supported on the CPU; use fp32 or bf16")
    return name
