"""The node's on-disk state: received instances, jobs, and what became of them.

Nothing the node accepted lives only in memory. The spool folder holds::

    incoming/<series>/<instance>.dcm   instances as they arrive, grouped by series
    jobs/<job>/job.json                a stable series: its state and retry schedule
    jobs/<job>/source/                 the received instances (moved from incoming/)
    jobs/<job>/derived/                the derived series, once processed
    forwarded/<job>.json               record of a series sent everywhere (no pixel data)
    failed/<job>/                      a series that could not be processed, with the error
    tmp/                               instances being written (emptied at start-up)

A job goes ``received`` -> ``processed`` -> forwarded (its folder is then removed and a
record written to ``forwarded/``). ``<series>`` is :func:`series_key` of the
SeriesInstanceUID and ``<instance>`` :func:`instance_name` of the SOPInstanceUID, so no
UID sent by a peer can name a path outside the spool, and a resent instance replaces
its first copy. State files are written to a temporary name and renamed (``os.replace``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from meddenoise.errors import InputError

__all__ = ["Job", "Spool", "instance_name", "series_key"]

State = Literal["received", "processed"]

_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_KEY = re.compile(r"[0-9a-f]{12}")
KEY_CHARS = 12


def series_key(series_uid: str) -> str:
    """Name a series in the spool and in logs: 12 hex digits of the SHA-256 of its UID.

    >>> series_key("1.2.3")
    'c47f5b18b8a4'
    """
    return hashlib.sha256(series_uid.encode()).hexdigest()[:KEY_CHARS]


def instance_name(instance_uid: str) -> str:
    """Return the file name of an instance: its UID when valid, else a hash of it.

    >>> instance_name("1.2.840.10008.1")
    '1.2.840.10008.1.dcm'
    >>> instance_name("../../etc/passwd")
    'x-3754d6cb3a38e1185e5b382d5f3ef3f1.dcm'
    """
    if len(instance_uid) <= 64 and _UID.fullmatch(instance_uid):
        return f"{instance_uid}.dcm"
    return f"x-{hashlib.sha256(instance_uid.encode()).hexdigest()[:32]}.dcm"


@dataclass(frozen=True)
class Job:
    """A stable series on its way through the node (the content of ``job.json``).

    Attributes
    ----------
    id : str
        Folder name: creation time and series key.
    series : str
        :func:`series_key` of the source SeriesInstanceUID.
    state : str
        ``"received"`` (to be processed) or ``"processed"`` (to be forwarded).
    instances : int
        Instances received.
    created : float
        Wall-clock time the series became stable (seconds since the epoch).
    attempts : int
        Failed forwarding attempts so far.
    next_attempt : float
        Wall-clock time before which forwarding is not tried again.
    sent : tuple of str
        Destinations already holding the derived series (not sent again on retry).
    error : str or None
        The last error, on one line.
    seconds : dict
        Timings (``"process"``, ``"forward"``).
    """

    id: str
    series: str
    state: State = "received"
    instances: int = 0
    created: float = 0.0
    attempts: int = 0
    next_attempt: float = 0.0
    sent: tuple[str, ...] = ()
    error: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        """Rebuild a job from its ``job.json`` content."""
        data = {**data, "sent": tuple(data.get("sent", ()))}
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class Spool:
    """The spool folder of a node (see the module description for its layout).

    Parameters
    ----------
    root : path-like
        Created if missing. Left-overs of an interrupted run are tidied at opening.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self._lock = threading.Lock()
        try:
            for name in ("incoming", "jobs", "forwarded", "failed", "tmp"):
                (self.root / name).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{self.root}: cannot create the spool ({exc.strerror})") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise InputError(f"{self.root}: the spool folder is not writable")
        self._recover()

    # -- incoming ---------------------------------------------------------------------

    def add_instance(self, path: Path, *, series_uid: str, instance_uid: str) -> str:
        """Move a received file into ``incoming/``; return its series key.

        The file is moved (or copied, across file systems) to ``tmp/``, flushed to disk
        and renamed into place, so a crash leaves either the whole file or none of it.
        """
        key = series_key(series_uid)
        staged = self.root / "tmp" / f"{uuid.uuid4().hex}.part"
        try:
            try:
                os.replace(path, staged)
            except OSError:
                shutil.copyfile(path, staged)
            _fsync(staged)
            with self._lock:
                folder = self.root / "incoming" / key
                folder.mkdir(exist_ok=True)
                os.replace(staged, folder / instance_name(instance_uid))
        finally:
            staged.unlink(missing_ok=True)
        return key

    def stage(self, data: bytes) -> Path:
        """Write received bytes to a new file in ``tmp/``; return its path."""
        path = self.root / "tmp" / f"{uuid.uuid4().hex}.part"
        path.write_bytes(data)
        return path

    def incoming(self) -> list[str]:
        """Return the keys of the series whose instances are in ``incoming/``."""
        with self._lock:
            return [
                p.name
                for p in sorted((self.root / "incoming").iterdir())
                if p.is_dir() and _KEY.fullmatch(p.name)
            ]

    def count(self, key: str) -> int:
        """Return how many instances of series ``key`` are in ``incoming/``."""
        with self._lock:
            return sum(1 for _ in (self.root / "incoming" / key).glob("*.dcm"))

    def promote(self, key: str) -> Job | None:
        """Turn the received instances of a series into a ``received`` job.

        Returns None when nothing of that series is waiting.
        """
        stamp = time.strftime("%Y%m%dT%H%M%S")
        job_id = f"{stamp}-{key}"
        n = 1
        while (self.root / "jobs" / job_id).exists() or (self.root / "failed" / job_id).exists():
            n += 1
            job_id = f"{stamp}-{key}-{n}"
        folder = self.root / "jobs" / job_id
        folder.mkdir()
        with self._lock:
            incoming = self.root / "incoming" / key
            count = sum(1 for _ in incoming.glob("*.dcm")) if incoming.is_dir() else 0
            if not count:
                shutil.rmtree(folder)
                return None
            job = Job(job_id, key, instances=count, created=time.time())
            self.save(job)
            os.replace(incoming, folder / "source")
        return job

    # -- jobs -------------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        """Return the jobs not yet forwarded, oldest first."""
        found = []
        for folder in sorted((self.root / "jobs").iterdir()):
            state = folder / "job.json"
            if state.is_file():
                found.append(Job.from_json(json.loads(state.read_text())))
        return found

    def source(self, job: Job) -> Path:
        """Folder of the received instances of a job."""
        return self.root / "jobs" / job.id / "source"

    def derived(self, job: Job) -> Path:
        """Folder of the derived series of a job."""
        return self.root / "jobs" / job.id / "derived"

    def save(self, job: Job) -> Job:
        """Write ``job.json`` atomically; return the job."""
        _write_json(self.root / "jobs" / job.id / "job.json", asdict(job), self.root / "tmp")
        return job

    def finish(self, job: Job) -> None:
        """Record a job as forwarded everywhere and delete its data."""
        _write_json(self.root / "forwarded" / f"{job.id}.json", asdict(job), self.root / "tmp")
        shutil.rmtree(self.root / "jobs" / job.id)

    def fail(self, job: Job, error: str) -> Job:
        """Move a job that cannot be processed to ``failed/``, keeping its instances."""
        job = self.save(replace(job, error=error))
        os.replace(self.root / "jobs" / job.id, self.root / "failed" / job.id)
        return job

    def forwarded(self) -> list[Job]:
        """Return the records of the jobs forwarded so far, oldest first."""
        return [
            Job.from_json(json.loads(p.read_text()))
            for p in sorted((self.root / "forwarded").glob("*.json"))
        ]

    def failed(self) -> list[Job]:
        """Return the jobs that could not be processed, oldest first."""
        return [
            Job.from_json(json.loads(p.read_text()))
            for p in sorted((self.root / "failed").glob("*/job.json"))
        ]

    def _recover(self) -> None:
        """Tidy what an interrupted run left: partial files, half-made jobs."""
        for partial in (self.root / "tmp").iterdir():
            _remove(partial)
        for folder in sorted((self.root / "jobs").iterdir()):
            state = folder / "job.json"
            if not state.is_file() or not (folder / "source").is_dir():
                # Stopped between creating the job and moving its instances in:
                # they are still in incoming/ and will make a new job.
                _remove(folder)
                continue
            for entry in folder.iterdir():
                if entry.name not in ("job.json", "source", "derived"):
                    _remove(entry)  # a derived series being written
            job = Job.from_json(json.loads(state.read_text()))
            if job.state == "processed" and not (folder / "derived").is_dir():
                self.save(replace(job, state="received"))


def _write_json(path: Path, data: dict[str, Any], tmp_dir: Path) -> None:
    staged = tmp_dir / f"{uuid.uuid4().hex}.json"
    try:
        staged.write_text(json.dumps(data, indent=1, sort_keys=True))
        _fsync(staged)
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
