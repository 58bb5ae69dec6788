"""Running batch items on a Ray cluster: one model per worker, results back to the driver.

Each worker is a Ray actor that loads the model once and processes the items it is
given with :func:`meddenoise.batch.runner.process_item`; the driver (the process that
called :func:`~meddenoise.batch.runner.run_batch`) hands items out as workers become
free and alone writes the manifest. Workers read and write the same paths as the
driver, so on a multi-machine cluster the input and output folders must be a shared
file system mounted at the same place, and meddenoise installed on every node.

Ray is the ``distributed`` extra: ``pip install 'meddenoise[distributed]'``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meddenoise.batch.runner import BatchOptions, Outcome, WorkItem, process_item
from meddenoise.errors import InputError, ProcessingError

__all__ = ["BatchWorker", "process_on_ray"]


class BatchWorker:
    """A Ray actor's state: the model, loaded once.

    Parameters
    ----------
    model : str
        ``"default"`` or a checkpoint path readable on the worker's node.
    options : BatchOptions
        Compute options (device, precision, tile).
    threads : int
        Torch threads of this worker.
    """

    def __init__(self, model: str, options: BatchOptions, threads: int) -> None:
        import torch

        from meddenoise.api import load_model

        torch.set_num_threads(threads)
        self.options = options
        self.loaded = load_model(model, device=options.device)

    def run(self, work: WorkItem) -> Outcome:
        """Process one item (never raises: a failure is a failed outcome)."""
        return process_item(work, self.loaded, self.options)

    def describe(self) -> str:
        """Name the model and the process (for tests and logs)."""
        import os

        return f"{self.loaded.short_hash}@{os.getpid()}"


def process_on_ray(
    todo: list[WorkItem],
    *,
    model: str,
    options: BatchOptions,
    address: str | None = None,
    workers: int | None = None,
    threads: int = 1,
) -> Iterator[tuple[WorkItem, Outcome]]:
    """Process ``todo`` on Ray workers, yielding each item's outcome as it arrives.

    Connects to the cluster at ``address``, or starts a local one (shut down at the
    end). Closing the iterator early (``fail_fast``) stops handing out items.

    Parameters
    ----------
    todo : list of WorkItem
        Items to process.
    model : str
        ``"default"`` or an absolute checkpoint path.
    options : BatchOptions
        Passed to each worker.
    address : str, optional
        Cluster address; default a new local cluster.
    workers : int, optional
        Actors to start; default one per CPU of the cluster (at most one per item).
    threads : int
        Torch threads per worker.

    Yields
    ------
    tuple of (WorkItem, Outcome)
    """
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise InputError("--engine ray needs Ray: pip install 'meddenoise[distributed]'") from None

    started_here = not ray.is_initialized()
    if started_here:
        if address is not None:
            _check_reachable(address)
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = address or "a local cluster"
            raise InputError(f"cannot connect to Ray at {where}: {exc}") from None
    try:
        gpus = 1 if options.device.startswith("cuda") else 0
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        cpus = int(resources.get("CPU", 1))
        count = max(1, min(workers or max(1, cpus // threads), len(todo)))
        actor = ray.remote(num_cpus=threads, num_gpus=gpus)(BatchWorker)
        pool = ActorPool([actor.remote(model, options, threads) for _ in range(count)])
        by_key = {work.item.key: work for work in todo}
        results: Any = pool.map_unordered(lambda a, w: a.run.remote(w), todo)
        try:
            for outcome in results:
                yield by_key[outcome.key], outcome
        except ray.exceptions.RayError as exc:
            lines = str(exc).strip().splitlines()
            raise ProcessingError(f"a Ray worker failed: {lines[-1] if lines else exc}") from None
    finally:
        if started_here:
            ray.shutdown()


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail at once on a cluster address nothing listens on (Ray itself retries for minutes).

    ``auto`` and addresses without a port are left to Ray.
    """
    import socket

    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"cannot connect to Ray at {address}: {reason}") from None
