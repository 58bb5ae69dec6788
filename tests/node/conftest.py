"""Fixtures of the node tests: a tiny model, test series, Orthanc, nodes, storescu."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.node.orthanc import ORTHANC, Orthanc
from tests.node.series import source_slices, write_series

STORESCU = Path("/usr/bin/storescu")  # dcmtk's; the venv's pynetdicom script shadows it


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def storescu(
    files: Sequence[Path],
    port: int,
    *,
    calling: str = "STORESCU",
    called: str = "MEDDENOISE",
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Send files with dcmtk's storescu; return the finished process."""
    if not STORESCU.is_file():
        pytest.skip("dcmtk's storescu is not installed (apt-get install dcmtk)")
    command = [str(STORESCU), "-aet", calling, "-aec", called, "127.0.0.1", str(port)]
    return subprocess.run(
        [*command, *map(str, files)], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-block network: fast enough for whole series on a small CPU."""
    from meddenoise.checkpoint import save_checkpoint
    from meddenoise.models import build_model

    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, build_model("nen", width=8, growth=4, depth=1))
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint: Path) -> Any:
    """The tiny network, loaded."""
    from meddenoise.api import load_model

    return load_model(tiny_checkpoint, device="cpu")


@pytest.fixture(scope="session")
def ct_sources(shared_data: Path) -> list[Path]:
    return source_slices(shared_data)


@pytest.fixture(scope="session")
def ct20(ct_sources: list[Path], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """20 slices of the Philips CT series at 128 x 128, with sentinel patient data."""
    return write_series(ct_sources, tmp_path_factory.mktemp("ct20"), count=20, factor=4)


@pytest.fixture
def make_orthanc(tmp_path: Path) -> Iterator[Callable[..., Orthanc]]:
    """Build Orthanc servers (started unless ``start=False``); all stopped at the end."""
    if not ORTHANC.is_file():
        pytest.skip("Orthanc is not installed (apt-get install orthanc)")
    servers: list[Orthanc] = []

    def make(*, start: bool = True, node_port: int = 11112, **extra: Any) -> Orthanc:
        server = Orthanc(tmp_path / f"orthanc{len(servers)}", node_port=node_port, extra=extra)
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def shared_orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """One Orthanc per test module (it takes seconds to shut down)."""
    if not ORTHANC.is_file():
        pytest.skip("Orthanc is not installed (apt-get install orthanc)")
    server = Orthanc(tmp_path_factory.mktemp("orthanc")).start()
    yield server
    server.stop()


@pytest.fixture
def orthanc(shared_orthanc: Orthanc) -> Orthanc:
    """A running Orthanc with an empty database."""
    shared_orthanc.clear()
    return shared_orthanc


@pytest.fixture
def start_node(tmp_path: Path, tiny_model: Any) -> Iterator[Callable[..., Any]]:
    """Start in-process nodes on free ports with the tiny model; stop them at the end."""
    import torch

    from meddenoise.node import Node, NodeConfig

    threads = torch.get_num_threads()
    nodes: list[Node] = []

    def start(**options: Any) -> Node:
        settings: dict[str, Any] = {
            "storage": tmp_path / "spool",
            "host": "127.0.0.1",
            "port": 0,
            "stable_seconds": 0.5,
            "retry_initial": 0.3,
            "retry_max": 1.0,
            "timeout": 10.0,
            "threads": 1,
            "device": "cpu",
        }
        settings.update(options)
        node = Node(NodeConfig(**settings), model=tiny_model)
        nodes.append(node)
        return node.start()

    yield start
    for node in nodes:
        node.stop()
    torch.set_num_threads(threads)
