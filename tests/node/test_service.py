"""The node as a whole: bad series, shutdown, run_node."""

from __future__ import annotations

import logging
import shutil
import threading

import pydicom
import pytest

from meddenoise.node import Node, NodeConfig, Spool, parse_destination, run_node
from meddenoise.node.tracker import ArrivalTracker
from meddenoise.node.worker import Worker
from tests.node.conftest import storescu, wait_for
from tests.node.orthanc import free_port

pynetdicom = pytest.importorskip("pynetdicom")


def test_a_series_that_cannot_be_processed_is_set_aside(start_node, orthanc, ct20, caplog):
    caplog.set_level(logging.INFO)
    node = start_node(forward=(parse_destination(f"127.0.0.1:{orthanc.dicom_port}:ORTHANC"),))
    broken = pydicom.dcmread(ct20[0])
    broken.SeriesInstanceUID = pydicom.uid.generate_uid()
    broken.PixelData = broken.PixelData[:100]  # far too short for 128 x 128
    ae = pynetdicom.AE(ae_title="SCU")
    ae.add_requested_context(broken.SOPClassUID, broken.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", node.port, ae_title="MEDDENOISE")
    assert assoc.send_c_store(broken).Status == 0  # stored: the header is fine
    assoc.release()

    (failed,) = wait_for(node.spool.failed, 30, "the broken series to fail")
    assert failed.error
    assert "\n" not in failed.error
    assert (node.spool.root / "failed" / failed.id / "source").is_dir()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "cannot be processed" in errors[0].getMessage()
    assert errors[0].exc_info is None

    # the node goes on with the next series
    assert storescu(ct20, node.port).returncode == 0
    wait_for(lambda: [len(s["Instances"]) for s in orthanc.series()] == [20], 60, "20 in Orthanc")


def test_stopping_abandons_a_series_being_denoised(tmp_path, tiny_model, ct20):
    spool = Spool(tmp_path / "spool")
    staged = tmp_path / "staged"
    for path in ct20:
        staged.mkdir(exist_ok=True)
        shutil.copy(path, staged / path.name)
        uid = pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
        spool.add_instance(staged / path.name, series_uid="1.2.3", instance_uid=uid)
    job = spool.promote(spool.incoming()[0])
    config = NodeConfig(spool.root, stow_url="http://127.0.0.1:9")
    stop = threading.Event()
    worker = Worker(config, spool, ArrivalTracker(), tiny_model, stop)
    stop.set()
    worker.process(job)
    (kept,) = spool.jobs()
    assert kept.state == "received"
    assert not spool.derived(job).exists()
    assert len(list(spool.source(job).iterdir())) == 20
    assert sorted(p.name for p in (spool.root / "jobs" / job.id).iterdir()) == [
        "job.json",
        "source",
    ]


def test_run_node_runs_until_its_stop_event(tmp_path, tiny_checkpoint, caplog):
    import torch

    caplog.set_level(logging.INFO, logger="meddenoise.node")
    threads = torch.get_num_threads()
    port = free_port()
    config = NodeConfig(
        tmp_path / "spool",
        forward=(parse_destination("127.0.0.1:9:NOBODY"),),
        host="127.0.0.1",
        port=port,
        model=str(tiny_checkpoint),
        device="cpu",
        threads=1,
    )
    stop = threading.Event()
    thread = threading.Thread(target=run_node, args=(config, stop))
    thread.start()
    try:
        wait_for(lambda: "listening on" in caplog.text, 30, "the node to start")
        ae = pynetdicom.AE(ae_title="ECHO")
        ae.add_requested_context("1.2.840.10008.1.1")
        assoc = ae.associate("127.0.0.1", port, ae_title="MEDDENOISE")
        assert assoc.send_c_echo().Status == 0
        assoc.release()
    finally:
        stop.set()
        thread.join(30)
        torch.set_num_threads(threads)
    assert not thread.is_alive()
    assert "node MEDDENOISE stopped" in caplog.text
    assert "any caller may store" in caplog.text  # no allow-list: warned


def test_a_node_that_is_not_running_has_no_port(tmp_path):
    node = Node(NodeConfig(tmp_path, stow_url="http://x"))
    assert not node.running
    with pytest.raises(RuntimeError, match="not running"):
        _ = node.port
    node.stop()  # harmless
