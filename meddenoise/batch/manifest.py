"""The batch manifest: one JSON line per event, appended and flushed to disk at once.

A run appends a ``started`` record before it writes an item and a ``done``, ``failed``
or ``skipped`` record after. Outputs are written atomically, so after a kill at any
moment the manifest and the output folder tell what happened to every item:

- ``done`` and the output exists: finished, skipped by the next run;
- ``started`` only, and an output newer than that record: the rename happened but the
  ``done`` line did not; the next run records it as done without computing it again;
- ``started`` only and no such output: it never finished; the next run processes it.

A line cut short by a kill is ignored. One process at a time holds a manifest (an
exclusive ``flock``), so two runs of the same shard cannot interleave.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from meddenoise.errors import InputError, ProcessingError

__all__ = ["Manifest", "Record", "path_digest"]

#: Statuses a record can have.
STATUSES = ("started", "done", "failed", "skipped")


@dataclass
class Record:
    """One manifest line.

    Attributes
    ----------
    key : str
        The item's key (:attr:`meddenoise.batch.discover.BatchItem.key`).
    input, output : str
        Paths relative to the input and output folders.
    status : str
        One of :data:`STATUSES`.
    input_sha256, output_sha256 : str or None
        SHA-256 of the input and output (a series folder: of its files' names and
        hashes).
    seconds : float or None
        Wall time of the item.
    error : str or None
        The one-line reason of a failure or skip.
    worker : str or None
        ``host:pid`` of the process that processed the item.
    time_ns : int
        When the record was written (``time.time_ns()``).
    """

    key: str
    input: str
    output: str
    status: str
    input_sha256: str | None = None
    output_sha256: str | None = None
    seconds: float | None = None
    error: str | None = None
    worker: str | None = None
    time_ns: int = field(default_factory=time.time_ns)


class Manifest:
    """An append-only JSON-lines file, locked while open.

    Parameters
    ----------
    path : path-like
        The manifest file; created if missing.

    Raises
    ------
    InputError
        If the file cannot be opened or another run holds it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.records: list[Record] = _read(self.path)
        try:
            self._handle: IO[str] = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{self.path}: cannot write the manifest ({exc.strerror})") from None
        _lock(self._handle, self.path)
        if self._handle.tell() > 0 and not self.path.read_bytes().endswith(b"\n"):
            # A kill cut the last line: start ours on a fresh line.
            self._handle.write("\n")
            self._flush()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock and close the file."""
        if not self._handle.closed:
            self._handle.close()

    def append(self, record: Record) -> None:
        """Write one record and force it to disk."""
        if record.status not in STATUSES:
            raise ValueError(f"unknown status {record.status!r}")
        try:
            self._handle.write(json.dumps(asdict(record), sort_keys=True) + "\n")
            self._flush()
        except OSError as exc:
            # A full disk, say: stop the run; what is recorded so far stays valid.
            raise ProcessingError(
                f"{self.path}: cannot write the manifest ({exc.strerror})"
            ) from None
        self.records.append(record)

    def _flush(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def latest(self) -> dict[str, Record]:
        """Return the last record of each key, ``started`` ones included."""
        last: dict[str, Record] = {}
        for record in self.records:
            last[record.key] = record
        return last

    def last_started(self) -> dict[str, Record]:
        """Return the last ``started`` record of each key."""
        started: dict[str, Record] = {}
        for record in self.records:
            if record.status == "started":
                started[record.key] = record
        return started


def _read(path: Path) -> list[Record]:
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the manifest ({exc.strerror})") from None
    records = []
    names = set(Record.__dataclass_fields__)
    for line in text.splitlines():
        try:
            data: Any = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if not isinstance(data, dict) or not {"key", "input", "output", "status"} <= data.keys():
            continue
        records.append(Record(**{k: v for k, v in data.items() if k in names}))
    return records


def _lock(handle: IO[str], path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, documented
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise InputError(f"{path}: another run is using this manifest") from None


def path_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, or of a folder's files (their relative names and contents).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a").write_bytes(b"x")
    >>> path_digest(d / "a") == hashlib.sha256(b"x").hexdigest()
    True
    >>> len(path_digest(d))
    64
    """
    p = Path(path)
    if not p.is_dir():
        return _file_digest(p)
    outer = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(p):
        dirnames.sort()
        for name in sorted(filenames):
            member = Path(dirpath) / name
            rel = member.relative_to(p).as_posix()
            outer.update(f"{rel}\0{_file_digest(member)}\n".encode())
    return outer.hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
