"""The storage SCP: a pynetdicom AE that writes what it receives straight into the spool.

Received datasets are never decoded in memory: pynetdicom writes each one to a temporary
file as its fragments arrive (``_config.STORE_RECV_CHUNKED_DATASET``, set for the whole
process when the server starts), the C-STORE handler reads its header only and moves the
file into the spool. Callers are checked against the allow-list (rejected with "calling
AE title not recognised") and must call the node's own AE title.

Statuses returned: 0x0000 stored; 0xA700 out of resources (the spool could not be
written); 0xA900 the dataset lacks its SOP Instance or Series Instance UID; 0xC000 the
dataset cannot be parsed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meddenoise.node.config import NodeConfig
from meddenoise.node.spool import Spool
from meddenoise.node.tracker import ArrivalTracker

if TYPE_CHECKING:
    from pynetdicom import AE
    from pynetdicom.events import Event
    from pynetdicom.transport import ThreadedAssociationServer

__all__ = ["IMAGE_STORAGE", "accepted_transfer_syntaxes", "build_ae", "start_scp"]

logger = logging.getLogger("meddenoise.node")

#: pynetdicom names of the image storage SOP classes the node accepts.
IMAGE_STORAGE = (
    "CTImageStorage",
    "EnhancedCTImageStorage",
    "LegacyConvertedEnhancedCTImageStorage",
    "MRImageStorage",
    "EnhancedMRImageStorage",
    "LegacyConvertedEnhancedMRImageStorage",
    "ComputedRadiographyImageStorage",
    "DigitalXRayImageStorageForPresentation",
    "DigitalXRayImageStorageForProcessing",
    "DigitalMammographyXRayImageStorageForPresentation",
    "DigitalMammographyXRayImageStorageForProcessing",
    "BreastTomosynthesisImageStorage",
    "UltrasoundImageStorage",
    "UltrasoundMultiFrameImageStorage",
    "SecondaryCaptureImageStorage",
    "MultiFrameGrayscaleByteSecondaryCaptureImageStorage",
    "MultiFrameGrayscaleWordSecondaryCaptureImageStorage",
    "MultiFrameTrueColorSecondaryCaptureImageStorage",
    "XRayAngiographicImageStorage",
    "XRayRadiofluoroscopicImageStorage",
    "NuclearMedicineImageStorage",
    "PositronEmissionTomographyImageStorage",
    "EnhancedPETImageStorage",
    "VLPhotographicImageStorage",
    "VLMicroscopicImageStorage",
    "VLSlideCoordinatesMicroscopicImageStorage",
    "DermoscopicPhotographyImageStorage",
)

VERIFICATION = "1.2.840.10008.1.1"

_UNCOMPRESSED = (
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian
)
_COMPRESSED = (
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
)


def accepted_transfer_syntaxes() -> list[str]:
    """Return the transfer syntaxes offered: uncompressed ones and those pydicom decodes here.

    A compressed syntax without an installed decoder is not accepted, so a sender falls
    back to one the node can read (or fails at association, not after storage).
    """
    from pydicom.pixels.decoders.base import get_decoder

    usable = []
    for uid in _COMPRESSED:
        try:
            if get_decoder(uid).is_available:
                usable.append(uid)
        except NotImplementedError:
            continue
    return [*_UNCOMPRESSED, *usable]


@dataclass
class _Association:
    """What one association brought: for the log line at its end."""

    caller: str
    instances: int = 0
    failed: int = 0
    series: set[str] = field(default_factory=set)


class StoreHandlers:
    """Event handlers of the storage SCP, writing into ``spool`` and telling ``tracker``.

    Every handler catches its own errors: a bad dataset or a full disk gives a failure
    status and one log line, never a traceback.
    """

    def __init__(self, spool: Spool, tracker: ArrivalTracker) -> None:
        self.spool = spool
        self.tracker = tracker
        self._associations: dict[int, _Association] = {}

    def handlers(self) -> list[Any]:
        """Return the ``(event, handler)`` pairs for ``AE.start_server``."""
        from pynetdicom import evt

        return [
            (evt.EVT_C_STORE, self.on_store),
            (evt.EVT_ACCEPTED, self.on_accepted),
            (evt.EVT_REJECTED, self.on_rejected),
            (evt.EVT_RELEASED, self.on_closed),
            (evt.EVT_ABORTED, self.on_closed),
        ]

    def on_accepted(self, event: Event) -> None:
        """Log an accepted association."""
        caller = _caller(event)
        self._associations[id(event.assoc)] = _Association(caller)
        logger.info("association from %s accepted", caller)

    def on_rejected(self, event: Event) -> None:
        """Log a rejected association (unknown calling or called AE title)."""
        reply = event.assoc.acceptor.primitive
        request = event.assoc.requestor.primitive
        diagnostic = getattr(reply, "diagnostic", None)
        if diagnostic == 0x03:
            why = "calling AE title not in the allow-list"
        elif diagnostic == 0x07:
            why = f"called AE title {getattr(request, 'called_ae_title', '')!r} is not this node's"
        else:
            why = f"diagnostic {diagnostic}"
        logger.warning("association from %s rejected: %s", _caller(event), why)

    def on_closed(self, event: Event) -> None:
        """Log the end of an association; its series may now become stable."""
        self.tracker.closed(id(event.assoc))
        info = self._associations.pop(id(event.assoc), None)
        if info is None:
            return
        how = "released" if event.event.name == "EVT_RELEASED" else "aborted"
        failed = f", {info.failed} refused" if info.failed else ""
        logger.info(
            "association from %s %s: %d instances in %d series%s",
            info.caller,
            how,
            info.instances,
            len(info.series),
            failed,
        )

    def on_store(self, event: Event) -> int:
        """Move one received dataset into the spool; return the C-STORE status."""
        info = self._associations.setdefault(id(event.assoc), _Association(_caller(event)))
        try:
            status = self._store(event)
        except Exception as exc:  # unexpected: refuse the instance, keep the node up
            logger.error("refused an instance: %s", type(exc).__name__)  # no message: PHI
            status = 0xA700
        if status:
            info.failed += 1
        return status

    def _store(self, event: Event) -> int:
        try:
            streamed = event.dataset_path
        except AttributeError:
            streamed = None
        if streamed is not None:
            path = Path(streamed)
        else:  # chunked reception was switched off after start-up
            try:
                path = self.spool.stage(event.encoded_dataset())
            except OSError as exc:
                logger.error("cannot write a received instance to the spool: %s", exc.strerror)
                return 0xA700
        try:
            return self._file(event, path)
        finally:
            path.unlink(missing_ok=True)  # refused, or already moved into the spool

    def _file(self, event: Event, path: Path) -> int:
        from pydicom import dcmread

        try:
            header = dcmread(
                path, stop_before_pixels=True, specific_tags=["SOPInstanceUID", "SeriesInstanceUID"]
            )
        except Exception as exc:  # any parse error of a peer's bytes
            logger.warning("refused an instance that cannot be parsed: %s", type(exc).__name__)
            return 0xC000
        series_uid = str(header.get("SeriesInstanceUID", "") or "")
        instance_uid = str(header.get("SOPInstanceUID", "") or "")
        if not series_uid or not instance_uid:
            logger.warning("refused an instance without SeriesInstanceUID or SOPInstanceUID")
            return 0xA900
        try:
            key = self.spool.add_instance(path, series_uid=series_uid, instance_uid=instance_uid)
        except OSError as exc:
            logger.error("cannot write a received instance to the spool: %s", exc.strerror)
            return 0xA700
        self.tracker.arrived(key, association=id(event.assoc))
        info = self._associations.get(id(event.assoc))
        if info is not None:
            info.instances += 1
            info.series.add(key)
        logger.debug("series %s: instance received", key)
        return 0x0000


def _caller(event: Event) -> str:
    requestor = event.assoc.requestor
    return f"{requestor.ae_title!r} ({requestor.address})"


def build_ae(config: NodeConfig, *, syntaxes: Sequence[str] | None = None) -> AE:
    """Make the node's AE: image storage and verification SCP, callers checked.

    Parameters
    ----------
    config : NodeConfig
        AE title, allowed callers, timeouts.
    syntaxes : sequence of str, optional
        Transfer syntaxes to accept (default :func:`accepted_transfer_syntaxes`).
    """
    import pynetdicom.sop_class as sop
    from pynetdicom import AE

    ae = AE(ae_title=config.ae_title)
    syntaxes = list(syntaxes or accepted_transfer_syntaxes())
    for name in IMAGE_STORAGE:
        uid = getattr(sop, name, None)
        if uid is not None:
            ae.add_supported_context(uid, syntaxes)
    ae.add_supported_context(VERIFICATION)
    ae.require_calling_aet = list(config.allow_calling)
    ae.require_called_aet = True
    ae.network_timeout = max(config.timeout, 1.0) * 2
    ae.acse_timeout = max(config.timeout, 1.0)
    ae.dimse_timeout = max(config.timeout, 1.0)
    return ae


def start_scp(
    config: NodeConfig, spool: Spool, tracker: ArrivalTracker
) -> ThreadedAssociationServer:
    """Start listening on ``config.host:config.port``; return the running server.

    Raises
    ------
    InputError
        When the address cannot be listened on (in use, not this machine's).
    """
    from pynetdicom import _config

    from meddenoise.errors import InputError

    _config.STORE_RECV_CHUNKED_DATASET = True
    ae = build_ae(config)
    handlers = StoreHandlers(spool, tracker)
    try:
        server = ae.start_server(
            (config.host, config.port), block=False, evt_handlers=handlers.handlers()
        )
    except OSError as exc:
        raise InputError(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
        ) from None
    if server is None:  # block=False always returns the server
        raise RuntimeError("pynetdicom returned no server")
    return server
