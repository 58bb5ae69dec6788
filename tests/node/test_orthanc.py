"""The node against real components: dcmtk's storescu sends, Orthanc receives."""

from __future__ import annotations

import logging
from pathlib import Path

import pydicom
import pytest

from meddenoise.node import parse_destination
from tests.node.conftest import storescu, wait_for
from tests.node.orthanc import Orthanc, dicomweb_plugin
from tests.node.series import PATIENT_ID, PATIENT_NAME

pytest.importorskip("pynetdicom")


def destination(orthanc: Orthanc) -> tuple:
    return (parse_destination(f"127.0.0.1:{orthanc.dicom_port}:ORTHANC"),)


def wait_instances(orthanc: Orthanc, expected: list[int], timeout: float = 60) -> list[dict]:
    def done() -> list[dict] | None:
        found = orthanc.series()
        counts = sorted(len(s["Instances"]) for s in found)
        return found if counts == sorted(expected) else None

    return wait_for(done, timeout, f"series of {expected} instances in Orthanc")


def test_a_series_sent_by_storescu_arrives_denoised_in_orthanc(start_node, orthanc, ct20, caplog):
    caplog.set_level(logging.DEBUG, logger="meddenoise")
    caplog.set_level(logging.INFO)
    node = start_node(forward=destination(orthanc), allow_calling=("STORESCU",))
    sent = storescu(ct20, node.port)
    assert sent.returncode == 0, sent.stderr

    (series,) = wait_instances(orthanc, [20])
    wait_for(lambda: node.spool.forwarded(), 30, "the forwarded record")
    source = pydicom.dcmread(ct20[0], stop_before_pixels=True)
    tags = orthanc.instance_tags(series["Instances"][0])
    assert tags["Modality"] == "CT"
    assert tags["SeriesInstanceUID"] != source.SeriesInstanceUID
    assert orthanc.study_uid(series["ParentStudy"]) == source.StudyInstanceUID
    assert tags["ImageType"].split("\\")[:3] == ["DERIVED", "SECONDARY", "AXIAL"]
    assert "denoised" in tags["SeriesDescription"]
    assert "meddenoise" in tags["DerivationDescription"]
    assert int(tags["SeriesNumber"]) == int(source.SeriesNumber) + 1000
    assert (int(tags["Rows"]), int(tags["Columns"])) == (128, 128)
    sources = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in ct20}
    referenced = {
        orthanc.instance_tags(i)["SourceImageSequence"][0]["ReferencedSOPInstanceUID"]
        for i in series["Instances"]
    }
    assert referenced == sources

    # the spool keeps a record, and no data
    (record,) = node.spool.forwarded()
    assert record.instances == 20
    assert record.sent == (f"ORTHANC@127.0.0.1:{orthanc.dicom_port}",)
    assert node.spool.jobs() == []
    assert node.spool.incoming() == []

    # nothing identifying the patient in the log, at INFO and at DEBUG
    text = caplog.text
    assert "20 instances received" in text
    assert "forwarded" in text
    assert PATIENT_NAME not in text
    assert PATIENT_ID not in text
    assert PATIENT_NAME.split("^")[0] not in text


def test_orthanc_down_while_forwarding_loses_nothing(start_node, make_orthanc, ct20, caplog):
    caplog.set_level(logging.INFO, logger="meddenoise")
    orthanc = make_orthanc(start=False)
    node = start_node(forward=destination(orthanc))
    assert storescu(ct20, node.port).returncode == 0

    def failed_once() -> bool:
        return any(job.attempts >= 1 and job.state == "processed" for job in node.spool.jobs())

    wait_for(failed_once, 60, "a failed forwarding attempt")
    (job,) = node.spool.jobs()
    assert "association failed" in (job.error or "")
    assert len(list(node.spool.source(job).iterdir())) == 20  # still on disk

    orthanc.start()
    (_series,) = wait_instances(orthanc, [20])
    wait_for(lambda: not node.spool.jobs(), 30, "the job to leave the spool")
    (record,) = node.spool.forwarded()
    assert record.attempts >= 1
    assert record.instances == 20
    # each failed attempt is one warning line, never a traceback
    ours = [r for r in caplog.records if r.name == "meddenoise.node"]
    failures = [r for r in ours if "forwarding failed" in r.getMessage()]
    assert len(failures) == record.attempts
    assert all(r.levelname == "WARNING" and "\n" not in r.getMessage() for r in failures)
    assert all(r.exc_info is None for r in ours)


def test_a_restarted_node_resumes_what_it_received(start_node, orthanc, ct20, tmp_path):
    first = start_node(forward=destination(orthanc), stable_seconds=3600)
    assert storescu(ct20, first.port).returncode == 0
    first.stop()
    spool = tmp_path / "spool"
    assert len(list((spool / "incoming").glob("*/*.dcm"))) == 20
    assert orthanc.series() == []

    second = start_node(forward=destination(orthanc), stable_seconds=0.5)
    wait_instances(orthanc, [20])
    wait_for(lambda: second.spool.forwarded(), 30, "the forwarded record")
    assert list((spool / "incoming").iterdir()) == []


def test_a_restarted_node_resumes_forwarding(start_node, make_orthanc, ct20):
    orthanc = make_orthanc(start=False)
    first = start_node(forward=destination(orthanc), retry_initial=60, retry_max=60)
    assert storescu(ct20, first.port).returncode == 0
    wait_for(lambda: any(j.attempts for j in first.spool.jobs()), 60, "a failed attempt")
    first.stop()

    orthanc.start()
    second = start_node(forward=destination(orthanc), retry_initial=60, retry_max=60)
    wait_instances(orthanc, [20])  # retried at start-up, not in 60 s
    wait_for(lambda: second.spool.forwarded(), 30, "the forwarded record")


@pytest.mark.skipif(dicomweb_plugin() is None, reason="orthanc-dicomweb is not installed")
def test_derived_series_go_out_by_stow_rs(start_node, orthanc, ct20):
    node = start_node(stow_url=f"{orthanc.url}/dicom-web")
    assert storescu(ct20, node.port).returncode == 0
    (series,) = wait_instances(orthanc, [20])
    tags = orthanc.instance_tags(series["Instances"][0])
    assert tags["ImageType"].startswith("DERIVED\\SECONDARY")
    (record,) = wait_for(lambda: node.spool.forwarded(), 30, "the forwarded record")
    assert record.sent == (f"STOW-RS {orthanc.url}/dicom-web",)


def test_unknown_calling_ae_titles_are_rejected(start_node, orthanc, ct20, tmp_path: Path):
    node = start_node(forward=destination(orthanc), allow_calling=("SCANNER1", "SCANNER2"))
    refused = storescu(ct20[:2], node.port, calling="OTHER")
    assert refused.returncode != 0
    assert "Association Rejected" in refused.stderr
    assert "Calling AE Title Not Recognized" in refused.stderr
    wrong_called = storescu(ct20[:2], node.port, calling="SCANNER1", called="NOTTHENODE")
    assert wrong_called.returncode != 0
    assert "Called AE Title Not Recognized" in wrong_called.stderr
    assert not list((tmp_path / "spool" / "incoming").iterdir())
    assert storescu(ct20[:2], node.port, calling="SCANNER2").returncode == 0
    assert len(list((tmp_path / "spool").glob("*/*/*.dcm"))) >= 2


def test_a_series_sent_twice_is_stored_once(start_node, orthanc, ct20):
    node = start_node(forward=destination(orthanc))
    assert storescu(ct20, node.port).returncode == 0
    wait_instances(orthanc, [20])
    wait_for(lambda: len(node.spool.forwarded()) == 1 or None, 30, "the first forward")
    assert storescu(ct20, node.port).returncode == 0
    wait_for(lambda: len(node.spool.forwarded()) == 2 or None, 60, "the second forward")
    (series,) = wait_instances(orthanc, [20])
    assert len(series["Instances"]) == 20
