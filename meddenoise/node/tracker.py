"""When is a series complete? :class:`ArrivalTracker` decides that it is stable.

DICOM never says that a series is complete. A series counts as stable when no
association that brought instances of it is still open and no instance of it arrived
for ``stable_seconds`` (Orthanc's "stable age").

Examples
--------
>>> tracker = ArrivalTracker()
>>> tracker.arrived("abc", association=1, now=100.0)
>>> tracker.stable(["abc"], stable_seconds=10, now=200.0)  # association 1 still open
[]
>>> tracker.closed(1)
{'abc'}
>>> tracker.stable(["abc"], stable_seconds=10, now=105.0), tracker.stable(["abc"], 10, 110.0)
([], ['abc'])
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Iterable

__all__ = ["ArrivalTracker"]


class ArrivalTracker:
    """Last arrival time and open associations of each series (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._open: dict[Hashable, set[str]] = {}
        self._started = time.monotonic()

    def arrived(self, key: str, *, association: Hashable, now: float | None = None) -> None:
        """Note that an instance of series ``key`` came in through ``association``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._first.setdefault(key, now)
            self._last[key] = now
            self._open.setdefault(association, set()).add(key)

    def closed(self, association: Hashable) -> set[str]:
        """Note that ``association`` was released or aborted; return its series keys."""
        with self._lock:
            return self._open.pop(association, set())

    def stable(
        self, keys: Iterable[str], stable_seconds: float, now: float | None = None
    ) -> list[str]:
        """Return those of ``keys`` that are stable.

        A key never seen since start-up (found in the spool after a restart) counts as
        having arrived at start-up.
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            busy = set().union(*self._open.values()) if self._open else set()
            return [
                key
                for key in keys
                if key not in busy and now - self._last.get(key, self._started) >= stable_seconds
            ]

    def forget(self, key: str) -> float | None:
        """Drop the arrival times of a series that became a job.

        Returns
        -------
        float or None
            Seconds from its first to its last instance (None when it arrived before
            start-up).
        """
        with self._lock:
            first, last = self._first.pop(key, None), self._last.pop(key, None)
        return None if first is None or last is None else last - first
