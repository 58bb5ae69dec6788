"""New UIDs for a derived series: random by default, deterministic from an entropy source.

A derived series needs one new SeriesInstanceUID and one new SOPInstanceUID per instance.
By default they are random ``2.25`` UIDs (a UUID written as an integer, ISO/IEC 9834-8),
so no organisation root is needed. Batch and sharded runs that must be idempotent give an
``entropy`` string: each UID is then a name-based UUID (SHA-1, RFC 4122 version 5) of the
entropy and the UID it replaces, so the same input gives the same output UIDs on every
run and different inputs never share one.

An organisation that owns a UID root passes it as ``prefix`` (ending with a dot); the
UIDs are then that root followed by random digits, or by digits of a SHA-512 hash in the
deterministic mode (:func:`pydicom.uid.generate_uid`).

Examples
--------
>>> uids = UidFactory(entropy="batch-2026-11")
>>> uids.instance_uid("1.2.3.4") == uids.instance_uid("1.2.3.4")
True
>>> uids.instance_uid("1.2.3.4").startswith("2.25.")
True
>>> UidFactory().instance_uid("1.2.3.4") == UidFactory().instance_uid("1.2.3.4")
False
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pydicom.uid import UID, generate_uid

from meddenoise.errors import InputError

__all__ = ["UID_NAMESPACE", "UidFactory"]

#: Namespace of the name-based UUIDs behind deterministic ``2.25`` UIDs.
UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "meddenoise:dicom:derived-uid")

_SEPARATOR = "\x1f"  # ASCII unit separator: no UID or entropy string contains it


@dataclass(frozen=True)
class UidFactory:
    """Make the UIDs of a derived series.

    Attributes
    ----------
    prefix : str or None
        UID root ending with ``"."`` (at most 54 characters); None for ``2.25`` UIDs.
    entropy : str or None
        Makes the UIDs deterministic: a function of this string, the derivation and the
        source UID. None for random UIDs.
    """

    prefix: str | None = None
    entropy: str | None = None

    def __post_init__(self) -> None:
        if self.prefix is not None:
            try:
                generate_uid(self.prefix, ["check"])
            except ValueError as exc:
                raise InputError(f"invalid UID prefix {self.prefix!r}: {exc}") from None

    @property
    def deterministic(self) -> bool:
        """True when the UIDs depend on the entropy and the input only."""
        return self.entropy is not None

    def series_uid(self, source_series_uid: str, *salt: str) -> UID:
        """Return the SeriesInstanceUID of the series derived from ``source_series_uid``.

        ``salt`` strings (e.g. the derivation description) enter deterministic UIDs.
        """
        return self._make("series", source_series_uid, *salt)

    def instance_uid(self, source_instance_uid: str, *salt: str) -> UID:
        """Return the SOPInstanceUID of the instance derived from ``source_instance_uid``."""
        return self._make("instance", source_instance_uid, *salt)

    def _make(self, kind: str, source_uid: str, *salt: str) -> UID:
        if self.entropy is None:
            return generate_uid(self.prefix)
        name = _SEPARATOR.join((self.entropy, kind, str(source_uid), *salt))
        if self.prefix is None:
            return UID(f"2.25.{uuid.uuid5(UID_NAMESPACE, name).int}")
        return generate_uid(self.prefix, [name])
