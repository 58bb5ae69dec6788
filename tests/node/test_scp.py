"""The storage SCP over real associations: what is stored, refused and rejected."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from meddenoise.node import NodeConfig, Spool
from meddenoise.node.scp import accepted_transfer_syntaxes, start_scp
from meddenoise.node.spool import instance_name, series_key
from meddenoise.node.tracker import ArrivalTracker

pynetdicom = pytest.importorskip("pynetdicom")

CT = "1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture
def scp(tmp_path):
    config = NodeConfig(
        tmp_path / "spool",
        stow_url="http://127.0.0.1:9/unused",
        host="127.0.0.1",
        port=0,
        allow_calling=("SCANNER",),
        timeout=5,
    )
    spool, tracker = Spool(config.storage), ArrivalTracker()
    server = start_scp(config, spool, tracker)
    yield server.server_address[1], spool, tracker
    server.shutdown()


def associate(port, *, calling="SCANNER", called="MEDDENOISE", syntaxes=None):
    ae = pynetdicom.AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    ae.add_requested_context(CT, syntaxes or [ExplicitVRLittleEndian])
    ae.add_requested_context("1.2.840.10008.1.1")
    return ae.associate("127.0.0.1", port, ae_title=called)


def test_c_echo_and_c_store_write_the_instance_into_the_spool(scp, ct20):
    port, spool, tracker = scp
    assoc = associate(port)
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0
    status = assoc.send_c_store(pydicom.dcmread(ct20[0]))
    assert status.Status == 0x0000
    assert tracker.stable(spool.incoming(), stable_seconds=0) == []  # association still open
    assoc.release()

    source = pydicom.dcmread(ct20[0])
    key = series_key(source.SeriesInstanceUID)
    assert spool.incoming() == [key]
    assert tracker.stable([key], stable_seconds=0) == [key]
    stored = spool.root / "incoming" / key / instance_name(source.SOPInstanceUID)
    copy = pydicom.dcmread(stored)
    assert copy.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert copy.file_meta.MediaStorageSOPInstanceUID == source.SOPInstanceUID
    assert copy.PixelData == source.PixelData
    assert list((spool.root / "tmp").iterdir()) == []


def test_a_resent_instance_replaces_its_first_copy(scp, ct20):
    port, spool, _ = scp
    assoc = associate(port, syntaxes=[ImplicitVRLittleEndian])
    for _ in range(3):
        assert assoc.send_c_store(pydicom.dcmread(ct20[1])).Status == 0
    assoc.release()
    (key,) = spool.incoming()
    assert spool.count(key) == 1


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_uids_cannot_name_paths_outside_the_spool(scp, ct20, tmp_path):
    port, spool, _ = scp
    ds = pydicom.dcmread(ct20[0])
    ds.SOPInstanceUID = "../../../escaped"
    ds.SeriesInstanceUID = "../../outside"
    assoc = associate(port)
    assert assoc.send_c_store(ds).Status == 0
    assoc.release()
    (stored,) = list((spool.root / "incoming").glob("*/*.dcm"))
    assert stored.parent.parent == spool.root / "incoming"
    assert stored.name == instance_name("../../../escaped")
    assert stored.name.startswith("x-")
    assert not list(tmp_path.rglob("escaped*"))
    assert not list(tmp_path.rglob("outside*"))


def test_instances_without_a_series_uid_are_refused(scp, ct20):
    port, spool, _ = scp
    ds = pydicom.dcmread(ct20[0])
    del ds.SeriesInstanceUID
    assoc = associate(port)
    assert assoc.send_c_store(ds).Status == 0xA900
    assoc.release()
    assert spool.incoming() == []


def test_compressed_instances_are_accepted_where_pydicom_decodes_them(scp, ct20):
    port, spool, _ = scp
    if RLELossless not in accepted_transfer_syntaxes():
        pytest.skip("no RLE decoder")
    ds = pydicom.dcmread(ct20[0])
    ds.compress(RLELossless)
    assoc = associate(port, syntaxes=[RLELossless])
    assert assoc.is_established
    assert assoc.send_c_store(ds).Status == 0
    assoc.release()
    (stored,) = list((spool.root / "incoming").glob("*/*.dcm"))
    copy = pydicom.dcmread(stored)
    assert copy.file_meta.TransferSyntaxUID == RLELossless
    assert (copy.pixel_array == pydicom.dcmread(ct20[0]).pixel_array).all()


@pytest.mark.parametrize(
    ("calling", "called", "reason"),
    [("OTHER", "MEDDENOISE", 0x03), ("SCANNER", "SOMEONEELSE", 0x07)],
)
def test_unknown_ae_titles_are_rejected_with_the_right_reason(scp, calling, called, reason, caplog):
    port, spool, _ = scp
    assoc = associate(port, calling=calling, called=called)
    assert assoc.is_rejected
    rejection = assoc.acceptor.primitive
    assert (rejection.result, rejection.result_source, rejection.diagnostic) == (1, 1, reason)
    assert spool.incoming() == []
    (line,) = [r for r in caplog.records if r.name == "meddenoise.node"]
    assert line.levelname == "WARNING"
    assert f"from '{calling}'" in line.getMessage()
    assert "allow-list" in line.getMessage() if reason == 3 else called in line.getMessage()


def test_a_busy_port_is_a_one_line_error(scp, tmp_path):
    from meddenoise.errors import InputError

    port = scp[0]
    config = NodeConfig(tmp_path / "other", stow_url="http://x", host="127.0.0.1", port=port)
    with pytest.raises(InputError, match=f"cannot listen on 127.0.0.1:{port}"):
        start_scp(config, Spool(config.storage), ArrivalTracker())


def test_the_spool_keeps_nothing_in_tmp_after_a_store(scp, ct20):
    port, spool, _ = scp
    assoc = associate(port)
    for path in ct20[:5]:
        assert assoc.send_c_store(path).Status == 0
    assoc.release()
    assert list(Path(spool.root / "tmp").iterdir()) == []
    (key,) = spool.incoming()
    assert spool.count(key) == 5


def test_instances_are_stored_even_if_chunked_reception_is_switched_off(scp, ct20, monkeypatch):
    from pynetdicom import _config

    port, spool, _ = scp
    monkeypatch.setattr(_config, "STORE_RECV_CHUNKED_DATASET", False)
    assoc = associate(port)
    assert assoc.send_c_store(ct20[2]).Status == 0
    assoc.release()
    (stored,) = list((spool.root / "incoming").glob("*/*.dcm"))
    assert pydicom.dcmread(stored).PixelData == pydicom.dcmread(ct20[2]).PixelData
    assert list((spool.root / "tmp").iterdir()) == []
