"""Sending a derived series on: C-STORE to a storage SCP, or STOW-RS to a DICOMweb server.

Both raise :class:`ForwardError` on anything short of success (no association, a
rejected context, a failure status, an HTTP error, a refused instance), so the series
stays queued and is tried again later. Instances are read from disk one at a time (for
STOW-RS, a few per request), so memory does not grow with the series.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from meddenoise.errors import MeddenoiseError
from meddenoise.node.config import Destination, public_url

__all__ = ["ForwardError", "send_dimse", "send_stow"]

logger = logging.getLogger("meddenoise.node")

#: Status values of a C-STORE response that mean the instance was stored.
_STORED = {0x0000, 0xB000, 0xB006, 0xB007}
_STOW_BATCH = 8

_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_IMPLICIT_LE = "1.2.840.10008.1.2"


class ForwardError(MeddenoiseError):
    """A derived series could not be delivered; the message is one line."""


def _instances(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix == ".dcm")
    if not files:
        raise ForwardError(f"{folder}: no instances to send")
    return files


def _contexts(files: Sequence[Path]) -> dict[str, set[str]]:
    """Transfer syntaxes needed per SOP class, from the file meta of each instance."""
    from pydicom.filereader import read_file_meta_info

    needed: dict[str, set[str]] = {}
    for path in files:
        meta = read_file_meta_info(path)
        syntax = str(meta.TransferSyntaxUID)
        extra = {_EXPLICIT_LE, _IMPLICIT_LE} if syntax in (_EXPLICIT_LE, _IMPLICIT_LE) else set()
        needed.setdefault(str(meta.MediaStorageSOPClassUID), set()).update({syntax, *extra})
    return needed


def send_dimse(
    folder: Path, destination: Destination, *, ae_title: str, timeout: float = 30.0
) -> int:
    """Send every ``.dcm`` file of ``folder`` to ``destination`` in one association.

    Parameters
    ----------
    folder : Path
        A derived series.
    destination : Destination
        The storage SCP.
    ae_title : str
        Calling AE title (the node's own).
    timeout : float
        Seconds for the connection, the association and each response.

    Returns
    -------
    int
        Instances stored.

    Raises
    ------
    ForwardError
        When the association fails or any instance is not stored.
    """
    from pynetdicom import AE, evt

    files = _instances(folder)
    ae = AE(ae_title=ae_title)
    ae.connection_timeout = timeout
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    for sop_class, syntaxes in _contexts(files).items():
        ae.add_requested_context(sop_class, sorted(syntaxes, key=_syntax_order))
    connected: list[bool] = []
    assoc = ae.associate(
        destination.host,
        destination.port,
        ae_title=destination.ae_title,
        evt_handlers=[(evt.EVT_CONN_OPEN, lambda event: connected.append(True))],
    )
    if not assoc.is_established:
        if assoc.is_rejected:
            why = "rejected"
        elif not connected:
            why = f"cannot connect: refused, or no answer in {timeout:g} s"
        else:
            why = "aborted or no answer"
        raise ForwardError(f"{destination}: association failed ({why})")
    try:
        for number, path in enumerate(files, start=1):
            try:
                status = assoc.send_c_store(path, msg_id=number % 65536)
            except (ValueError, RuntimeError, OSError) as exc:
                raise ForwardError(f"{destination}: {path.name} not sent: {exc}") from None
            code = status.get("Status") if status else None
            if code not in _STORED:
                what = "no response" if code is None else f"status 0x{code:04X}"
                raise ForwardError(f"{destination}: {path.name} not stored ({what})")
    finally:
        if assoc.is_established:
            assoc.release()
    return len(files)


def _syntax_order(uid: str) -> tuple[int, str]:
    return (0 if uid == _EXPLICIT_LE else 1 if uid == _IMPLICIT_LE else 2, uid)


def _batches(files: Sequence[Path], size: int) -> Iterator[Sequence[Path]]:
    for start in range(0, len(files), size):
        yield files[start : start + size]


def send_stow(folder: Path, url: str, *, timeout: float = 30.0) -> int:
    """Send every ``.dcm`` file of ``folder`` to a DICOMweb server by STOW-RS.

    Parameters
    ----------
    folder : Path
        A derived series.
    url : str
        DICOMweb root, e.g. ``http://pacs/dicom-web``.
    timeout : float
        Seconds per HTTP request.

    Returns
    -------
    int
        Instances stored.

    Raises
    ------
    ForwardError
        On an HTTP or connection error, or when the server reports a failed instance.
    """
    from dicomweb_client.api import DICOMwebClient
    from pydicom import dcmread

    files = _instances(folder)
    client = DICOMwebClient(url=url, timeout=timeout)
    client.set_http_retry_params(retry=False)  # the node retries with its own back-off
    where = public_url(url)
    for batch in _batches(files, _STOW_BATCH):
        datasets = [dcmread(path) for path in batch]
        try:
            response = client.store_instances(datasets=datasets)
        except Exception as exc:  # requests' connection and HTTP errors
            why = _first_line(exc).replace(url, where)
            raise ForwardError(f"STOW-RS {where}: {type(exc).__name__}: {why}") from None
        failed = response.get("FailedSOPSequence") if response is not None else None
        if failed:
            raise ForwardError(f"STOW-RS {where}: {len(failed)} instances refused")
    return len(files)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "failed"
