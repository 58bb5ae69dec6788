"""The node's single processing thread: stable series -> jobs -> derived series -> sent.

One thread does all the work, so the model is used by one caller at a time and series
are processed in the order they became stable. Each pass of :meth:`Worker.step`:

1. turns every stable series of ``incoming/`` into a ``received`` job;
2. forwards every ``processed`` job whose retry time has come (a failure schedules the
   next try with exponential back-off, a success records the job as forwarded);
3. denoises one ``received`` job into its ``derived/`` folder.

Errors never stop the thread: a series that cannot be processed moves to ``failed/``
with a one-line reason; a destination that fails keeps the series queued.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from meddenoise.errors import MeddenoiseError
from meddenoise.node.config import NodeConfig, public_url
from meddenoise.node.forward import send_dimse, send_stow
from meddenoise.node.spool import Job, Spool
from meddenoise.node.tracker import ArrivalTracker

if TYPE_CHECKING:
    from meddenoise.api import LoadedModel

__all__ = ["Worker"]

#: Derived UIDs are a function of this, the model and the source UIDs: a series sent
#: twice (or in two parts) gives the same derived series, which the destination replaces.
NODE_ENTROPY = "meddenoise-node"

logger = logging.getLogger("meddenoise.node")

_PACKAGE = Path(__file__).resolve().parents[1]

#: Seconds between looks at the spool when there is nothing to do.
POLL_SECONDS = 0.25
#: Seconds to wait after an unexpected error (a full disk...), so the log is not flooded.
ERROR_PAUSE_SECONDS = 5.0


class _StoppingError(Exception):
    """Raised from the progress callback to abandon a series at shutdown."""


def _one_line(exc: BaseException | str) -> str:
    """First line of a message; unexpected exceptions are prefixed with their type."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else "failed"
    if isinstance(exc, (str, MeddenoiseError)):
        return first
    return f"{type(exc).__name__}: {first}"


def _loggable(exc: BaseException) -> str:
    """Return what the log may say about an error.

    meddenoise's own messages never quote patient data; another library's might (a
    value it could not parse), so for those only the type is logged and the message is
    kept in the job's ``job.json``, beside the data it is about.
    """
    if isinstance(exc, MeddenoiseError):
        return _one_line(exc)
    return f"{type(exc).__name__} (message in job.json)"


def _from_meddenoise(warning: warnings.WarningMessage) -> bool:
    return Path(warning.filename).resolve().is_relative_to(_PACKAGE)


class Worker(threading.Thread):
    """The thread that processes and forwards series (see the module description).

    Parameters
    ----------
    config : NodeConfig
        Destinations, stability, back-off and model options.
    spool : Spool
        Where the series are.
    tracker : ArrivalTracker
        Arrival times and open associations, fed by the SCP.
    model : LoadedModel
        The model, loaded once.
    stop : threading.Event
        Set to end the thread after its current step (a series being denoised is
        abandoned and done again after the next start).
    """

    def __init__(
        self,
        config: NodeConfig,
        spool: Spool,
        tracker: ArrivalTracker,
        model: LoadedModel,
        stop: threading.Event,
    ) -> None:
        super().__init__(name="meddenoise-node-worker", daemon=True)
        self.config = config
        self.spool = spool
        self.tracker = tracker
        self.model = model
        self.stop = stop
        # Queued jobs are retried at once after a restart.
        self.jobs = {job.id: replace(job, next_attempt=0.0) for job in spool.jobs()}

    def run(self) -> None:
        """Loop over :meth:`step` until ``stop`` is set."""
        while not self.stop.is_set():
            try:
                if not self.step():
                    self.stop.wait(POLL_SECONDS)
            except Exception as exc:  # keep the node alive whatever happens
                logger.error("worker: %s", _loggable(exc))
                logger.debug("worker: %s", _one_line(exc))
                self.stop.wait(ERROR_PAUSE_SECONDS)

    def step(self) -> bool:
        """Do one pass of work; return True when something was processed."""
        self.promote_stable()
        now = time.time()
        for job in sorted(self.jobs.values(), key=lambda j: j.id):
            if job.state == "processed" and job.next_attempt <= now and not self.stop.is_set():
                self.forward(job)
        for job in sorted(self.jobs.values(), key=lambda j: j.id):
            if job.state == "received" and not self.stop.is_set():
                self.process(job)
                return True
        return False

    def promote_stable(self) -> None:
        """Turn the stable series of ``incoming/`` into jobs."""
        for key in self.tracker.stable(self.spool.incoming(), self.config.stable_seconds):
            span = self.tracker.forget(key)
            job = self.spool.promote(key)
            if job is not None:
                self.jobs[job.id] = job
                over = "before start-up" if span is None else f"over {span:.1f} s"
                logger.info("series %s: %d instances received %s", key, job.instances, over)

    def process(self, job: Job) -> None:
        """Denoise a received job into its ``derived/`` folder."""
        from meddenoise.api import denoise_file

        source = self.spool.source(job)
        started = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = denoise_file(
                    source,
                    self.spool.derived(job),
                    model=self.model,
                    precision=self.config.precision,
                    tile=self.config.tile,
                    output_format="dicom",
                    overwrite=True,
                    progress=self._check_stop,
                    entropy=NODE_ENTROPY,
                )
        except _StoppingError:
            logger.info("series %s: processing interrupted, resumes at the next start", job.series)
            return
        except Exception as exc:
            self.jobs.pop(job.id)
            self.spool.fail(job, _one_line(exc))
            logger.error(
                "series %s: cannot be processed, kept in failed/%s: %s",
                job.series,
                job.id,
                _loggable(exc).replace(f"{source}: ", ""),
            )
            return
        finally:
            gc.collect()  # pydicom datasets hold reference cycles: free this series now
        for warning in caught:
            if _from_meddenoise(warning):
                text = _one_line(str(warning.message)).replace(f"{source}: ", "")
            else:  # may quote attribute values
                text = f"{warning.category.__name__} from {Path(warning.filename).name}"
            logger.warning("series %s: %s", job.series, text)
        seconds = time.perf_counter() - started
        self.jobs[job.id] = self.spool.save(
            replace(job, state="processed", seconds={**job.seconds, "process": seconds})
        )
        logger.info(
            "series %s: %d slices denoised in %.1f s (model %.1f s)",
            job.series,
            result.slices,
            seconds,
            result.model_seconds,
        )

    def _check_stop(self, done: int, total: int) -> None:
        if self.stop.is_set():
            raise _StoppingError

    def forward(self, job: Job) -> None:
        """Send a processed job to every destination it has not reached yet."""
        folder = self.spool.derived(job)
        config = self.config
        targets: list[tuple[str, Callable[[], int]]] = [
            (
                str(dest),
                partial(send_dimse, folder, dest, ae_title=config.ae_title, timeout=config.timeout),
            )
            for dest in config.forward
        ]
        if config.stow_url:
            stow = partial(send_stow, folder, config.stow_url, timeout=config.timeout)
            targets.append((f"STOW-RS {public_url(config.stow_url)}", stow))
        sent = list(job.sent)
        started = time.perf_counter()
        for label, send in targets:
            if label in sent:
                continue
            tick = time.perf_counter()
            try:
                count = send()
            except Exception as exc:
                self._retry_later(replace(job, sent=tuple(sent)), exc)
                return
            sent.append(label)
            logger.info(
                "series %s: %d instances sent to %s in %.1f s",
                job.series,
                count,
                label,
                time.perf_counter() - tick,
            )
        done = replace(
            job,
            sent=tuple(sent),
            error=None,
            seconds={**job.seconds, "forward": time.perf_counter() - started},
        )
        self.spool.finish(done)
        self.jobs.pop(job.id)
        logger.info(
            "series %s: forwarded, removed from the spool (%.1f s after it was received)",
            job.series,
            time.time() - job.created,
        )

    def _retry_later(self, job: Job, exc: Exception) -> None:
        attempts = job.attempts + 1
        delay = self.config.retry_delay(attempts)
        self.jobs[job.id] = self.spool.save(
            replace(
                job,
                attempts=attempts,
                next_attempt=time.time() + delay,
                error=_one_line(exc),
            )
        )
        logger.warning(
            "series %s: forwarding failed (attempt %d, next in %.0f s): %s",
            job.series,
            attempts,
            delay,
            _loggable(exc),
        )
