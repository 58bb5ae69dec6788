"""The spool: atomic moves, safe names, job states, recovery after a crash."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from meddenoise.errors import InputError
from meddenoise.node.spool import Job, Spool, instance_name, series_key


def received(tmp_path, name="x.part", content=b"DICM"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.fixture
def spool(tmp_path):
    return Spool(tmp_path / "spool")


def test_layout(spool):
    assert sorted(p.name for p in spool.root.iterdir()) == [
        "failed",
        "forwarded",
        "incoming",
        "jobs",
        "tmp",
    ]


def test_names_are_safe_and_stable():
    assert instance_name("1.2.3") == "1.2.3.dcm"
    for bad in ("../x", "1.2/3", "1..2", "01.2", "1.2.", "a" * 10, "1." * 40 + "1"):
        name = instance_name(bad)
        assert name.startswith("x-")
        assert "/" not in name
        assert name == instance_name(bad)
    assert series_key("1.2.3") != series_key("1.2.4")
    assert len(series_key("")) == 12


def test_instances_move_in_and_a_resend_replaces(spool, tmp_path):
    key = spool.add_instance(received(tmp_path), series_uid="1.2", instance_uid="1.2.3")
    assert key == series_key("1.2")
    spool.add_instance(received(tmp_path, content=b"DICM2"), series_uid="1.2", instance_uid="1.2.3")
    spool.add_instance(received(tmp_path), series_uid="1.2", instance_uid="1.2.4")
    assert spool.incoming() == [key]
    assert spool.count(key) == 2
    assert (spool.root / "incoming" / key / "1.2.3.dcm").read_bytes() == b"DICM2"
    assert not (tmp_path / "x.part").exists()
    assert list((spool.root / "tmp").iterdir()) == []


def test_a_job_goes_received_processed_forwarded(spool, tmp_path):
    for uid in ("1.1", "1.2", "1.3"):
        spool.add_instance(received(tmp_path), series_uid="9", instance_uid=uid)
    key = series_key("9")
    job = spool.promote(key)
    assert job is not None
    assert (job.series, job.state, job.instances) == (key, "received", 3)
    assert spool.incoming() == []
    assert len(list(spool.source(job).iterdir())) == 3
    assert spool.jobs() == [job]

    spool.derived(job).mkdir()
    job = spool.save(replace(job, state="processed", attempts=2, sent=("A@h:1",)))
    assert spool.jobs() == [job]
    assert spool.jobs()[0].sent == ("A@h:1",)

    spool.finish(job)
    assert spool.jobs() == []
    assert spool.forwarded() == [job]
    assert list((spool.root / "jobs").iterdir()) == []
    assert spool.promote(key) is None


def test_failed_jobs_keep_their_instances(spool, tmp_path):
    spool.add_instance(received(tmp_path), series_uid="9", instance_uid="1.1")
    job = spool.promote(series_key("9"))
    spool.fail(job, "cannot decode")
    (failed,) = spool.failed()
    assert failed.error == "cannot decode"
    assert (spool.root / "failed" / job.id / "source" / "1.1.dcm").is_file()
    assert spool.jobs() == []


def test_promoting_twice_in_a_second_gives_two_jobs(spool, tmp_path):
    spool.add_instance(received(tmp_path), series_uid="9", instance_uid="1.1")
    first = spool.promote(series_key("9"))
    spool.add_instance(received(tmp_path), series_uid="9", instance_uid="1.2")
    second = spool.promote(series_key("9"))
    assert first.id != second.id
    assert len(spool.jobs()) == 2


def test_reopening_tidies_an_interrupted_run(spool, tmp_path):
    (spool.root / "tmp" / "half.part").write_bytes(b"half")
    spool.add_instance(received(tmp_path), series_uid="9", instance_uid="1.1")
    processed = spool.promote(series_key("9"))
    spool.derived(processed).mkdir()
    spool.save(replace(processed, state="processed"))
    (spool.root / "jobs" / processed.id / ".derived.abc.partial").mkdir()
    spool.add_instance(received(tmp_path), series_uid="8", instance_uid="1.1")
    lost_derived = spool.promote(series_key("8"))
    spool.save(replace(lost_derived, state="processed"))  # but no derived/ folder
    # a job stopped before its instances moved in
    (spool.root / "jobs" / "20260101T000000-aaaaaaaaaaaa").mkdir()
    (spool.root / "jobs" / "20260101T000000-aaaaaaaaaaaa" / "job.json").write_text(
        json.dumps({"id": "20260101T000000-aaaaaaaaaaaa", "series": "aaaaaaaaaaaa"})
    )

    again = Spool(spool.root)
    assert list((again.root / "tmp").iterdir()) == []
    states = {job.id: job.state for job in again.jobs()}
    assert states == {processed.id: "processed", lost_derived.id: "received"}
    assert sorted(p.name for p in (again.root / "jobs" / processed.id).iterdir()) == [
        "derived",
        "job.json",
        "source",
    ]


def test_jobs_read_back_from_json(spool):
    job = Job("id", "abc", sent=("x",), seconds={"process": 1.5})
    assert Job.from_json(json.loads(json.dumps(job.__dict__))) == job


def test_an_unwritable_spool_is_an_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match="cannot create the spool"):
        Spool(blocker / "spool")


def test_instances_are_copied_across_file_systems(spool):
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == spool.root.stat().st_dev:
        pytest.skip("no second file system to receive from")
    source = shm / f"meddenoise-test-{os.getpid()}.part"
    source.write_bytes(b"DICM-across")
    key = spool.add_instance(source, series_uid="7", instance_uid="7.1")
    assert (spool.root / "incoming" / key / "7.1.dcm").read_bytes() == b"DICM-across"
    source.unlink(missing_ok=True)  # pynetdicom deletes its own file afterwards
