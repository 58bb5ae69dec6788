"""Multi-process training under ``torchrun``: process group set-up and tear-down."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from meddenoise.errors import InputError

__all__ = ["distributed_context"]


@contextmanager
def distributed_context(enabled: bool) -> Iterator[int]:
    """Join the process group torchrun describes (gloo on CPU, nccl on CUDA); yield the rank.

    Without ``enabled`` this yields 0 and does nothing.

    Raises
    ------
    InputError
        When ``enabled`` but the process was not started by torchrun.
    """
    if not enabled:
        yield 0
        return
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise InputError("--distributed needs torchrun (RANK and WORLD_SIZE are not set)")
    import torch
    import torch.distributed as dist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend)
    try:
        yield dist.get_rank()
        # Rank 0 may still be validating and saving; a process that tears gloo down while
        # its peer is still connected can abort ("terminate called without an active
        # exception"), so all leave together.
        dist.barrier()
    finally:
        dist.destroy_process_group()
