"""The DICOM node (``meddenoise serve``): receive series, denoise them, send them on.

A storage SCP writes every received instance to a spool folder; a single worker thread
denoises each series once it is stable and sends the derived series to PACS by C-STORE
(and by STOW-RS where configured), retrying with back-off until it is delivered. See
docs/deploy.md.

Importing this package loads neither torch nor pynetdicom: they are imported when a
node starts.
"""

from __future__ import annotations

from meddenoise.node.config import Destination, NodeConfig, parse_destination
from meddenoise.node.service import Node, run_node
from meddenoise.node.spool import Job, Spool

__all__ = ["Destination", "Job", "Node", "NodeConfig", "Spool", "parse_destination", "run_node"]
