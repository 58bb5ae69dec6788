"""A running DICOM node: :class:`Node` ties the spool, the SCP and the worker together.

Examples
--------
Run a node from Python until ``stop()`` (tests use ``port=0`` for a free port)::

    from meddenoise.node import Node, NodeConfig, parse_destination

    config = NodeConfig(
        storage="spool", port=11112, forward=(parse_destination("pacs:104:PACS"),)
    )
    with Node(config) as node:
        ...  # node.port, node.spool
"""

from __future__ import annotations

import logging
import signal
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

from meddenoise.node.config import NodeConfig, public_url
from meddenoise.node.scp import start_scp
from meddenoise.node.spool import Spool
from meddenoise.node.tracker import ArrivalTracker
from meddenoise.node.worker import Worker

if TYPE_CHECKING:
    from pynetdicom.transport import ThreadedAssociationServer

    from meddenoise.api import LoadedModel

__all__ = ["Node", "run_node"]

logger = logging.getLogger("meddenoise.node")


class Node:
    """A storage SCP that denoises each stable series and forwards the derived series.

    Parameters
    ----------
    config : NodeConfig
        What to listen on, where to send, how to process.
    model : LoadedModel, optional
        An already loaded model (default: load ``config.model`` at :meth:`start`).
    """

    def __init__(self, config: NodeConfig, *, model: LoadedModel | None = None) -> None:
        self.config = config
        self._model = model
        self._stop = threading.Event()
        self._server: ThreadedAssociationServer | None = None
        self._worker: Worker | None = None
        self.spool: Spool | None = None

    @property
    def port(self) -> int:
        """The TCP port listened on (the one chosen when ``config.port`` is 0)."""
        if self._server is None:
            raise RuntimeError("the node is not running")
        return int(self._server.server_address[1])

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._server is not None

    def start(self) -> Node:
        """Open the spool, load the model, resume queued work and start listening.

        Raises
        ------
        InputError
            For an unusable spool folder, model, device, or address.
        """
        from meddenoise.api import load_model

        config = self.config
        spool = Spool(config.storage)
        if config.threads:
            import torch

            torch.set_num_threads(config.threads)
        model = self._model or load_model(config.model, device=config.device)
        tracker = ArrivalTracker()
        self._stop.clear()
        worker = Worker(config, spool, tracker, model, self._stop)
        self._server = start_scp(config, spool, tracker)
        self.spool, self._worker = spool, worker
        worker.start()
        if not config.allow_calling:
            logger.warning("no calling AE title allow-list: any caller may store to this node")
        targets = [str(d) for d in config.forward]
        if config.stow_url:
            targets.append(f"STOW-RS {public_url(config.stow_url)}")
        logger.info(
            "node %s listening on %s:%d; model %s (sha256 %s) on %s; forwarding to %s; "
            "%d series and %d jobs resumed from %s",
            config.ae_title,
            config.host,
            self.port,
            model.name,
            model.short_hash,
            model.device,
            ", ".join(targets),
            len(spool.incoming()),
            len(worker.jobs),
            spool.root,
        )
        return self

    def stop(self, timeout: float | None = 60.0) -> None:
        """Stop listening, let the worker finish its step, and return.

        A series being denoised is abandoned (it stays ``received`` and is processed
        again at the next start); nothing received is lost.
        """
        if self._server is None and self._worker is None:
            return
        if self._server is not None:
            self._server.shutdown()
            for assoc in self._server.active_associations:
                assoc.abort()  # unacknowledged instances are the sender's to resend
            self._server = None
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout)
            self._worker = None
        logger.info("node %s stopped", self.config.ae_title)

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_node(config: NodeConfig, stop_event: threading.Event | None = None) -> None:
    """Run a node until ``stop_event`` is set, or until SIGTERM or SIGINT.

    Without ``stop_event`` (and in the main thread), SIGTERM and SIGINT set an internal
    one, so the node shuts down cleanly in both cases.
    """
    stop = stop_event or threading.Event()
    previous: dict[int, Any] = {}
    if stop_event is None and threading.current_thread() is threading.main_thread():

        def on_signal(number: int, frame: object) -> None:
            logger.info("signal %s received, stopping", signal.Signals(number).name)
            stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        with Node(config):
            while not stop.wait(1.0):
                pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
