"""Forwarding by C-STORE and STOW-RS: success is counted, anything else raises."""

from __future__ import annotations

import shutil

import pydicom
import pytest

from meddenoise.node.config import Destination
from meddenoise.node.forward import ForwardError, send_dimse, send_stow
from tests.node.orthanc import free_port

pynetdicom = pytest.importorskip("pynetdicom")


@pytest.fixture
def folder(tmp_path, ct20):
    out = tmp_path / "derived"
    out.mkdir()
    for path in ct20[:4]:
        shutil.copy(path, out / f"{path.stem}.dcm")
    return out


@pytest.fixture
def receiver():
    """A pynetdicom storage SCP that answers ``status`` and keeps what it gets."""
    from pynetdicom import AE, evt
    from pynetdicom.presentation import StoragePresentationContexts

    got = {"datasets": [], "status": 0x0000}

    def on_store(event):
        got["datasets"].append(event.dataset)
        return got["status"]

    ae = AE(ae_title="RECEIVER")
    ae.supported_contexts = StoragePresentationContexts
    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    got["port"], got["ae"] = server.server_address[1], ae
    yield got
    server.shutdown()


def test_every_instance_is_stored(folder, receiver):
    dest = Destination("127.0.0.1", receiver["port"], "RECEIVER")
    assert send_dimse(folder, dest, ae_title="MEDDENOISE", timeout=5) == 4
    sent = sorted(ds.SOPInstanceUID for ds in receiver["datasets"])
    assert sent == sorted(pydicom.dcmread(p).SOPInstanceUID for p in folder.iterdir())


def test_a_failure_status_raises(folder, receiver):
    receiver["status"] = 0xA700
    dest = Destination("127.0.0.1", receiver["port"], "RECEIVER")
    with pytest.raises(ForwardError, match="not stored \\(status 0xA700\\)") as info:
        send_dimse(folder, dest, ae_title="MEDDENOISE", timeout=5)
    assert "\n" not in str(info.value)
    assert len(receiver["datasets"]) == 1


def test_a_closed_port_raises_at_once(folder):
    dest = Destination("127.0.0.1", free_port(), "NOBODY")
    with pytest.raises(ForwardError, match="association failed \\(cannot connect") as info:
        send_dimse(folder, dest, ae_title="MEDDENOISE", timeout=5)
    assert str(info.value).startswith(f"NOBODY@127.0.0.1:{dest.port}:")


def test_a_rejected_association_raises(folder, receiver):
    receiver["ae"].require_called_aet = True
    wrong = Destination("127.0.0.1", receiver["port"], "WRONG")
    with pytest.raises(ForwardError, match="association failed \\(rejected\\)"):
        send_dimse(folder, wrong, ae_title="MEDDENOISE", timeout=5)
    assert receiver["datasets"] == []


def test_an_empty_folder_raises(tmp_path):
    with pytest.raises(ForwardError, match="no instances"):
        send_dimse(tmp_path, Destination("127.0.0.1", 1, "X"), ae_title="A")


def test_stow_to_nowhere_raises_one_line_without_credentials(folder):
    url = f"http://user:secret@127.0.0.1:{free_port()}/dicom-web"
    with pytest.raises(ForwardError, match=r"STOW-RS http://127\.0\.0\.1") as info:
        send_stow(folder, url, timeout=5)
    assert "secret" not in str(info.value)
    assert "\n" not in str(info.value)
