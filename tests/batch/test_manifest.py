from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from meddenoise.batch.manifest import Manifest, Record, path_digest
from meddenoise.errors import InputError


def test_records_survive_reopening_and_a_cut_last_line(tmp_path: Path) -> None:
    path = tmp_path / "manifest.jsonl"
    with Manifest(path) as manifest:
        manifest.append(Record("a", "a", "a", "started"))
        manifest.append(Record("a", "a", "a", "done", output_sha256="x"))
    with path.open("a") as handle:
        handle.write('{"key": "b", "inp')  # a kill in the middle of a line
    with Manifest(path) as manifest:
        assert [r.status for r in manifest.records] == ["started", "done"]
        manifest.append(Record("b", "b", "b", "failed", error="bad"))
    with Manifest(path) as manifest:
        latest = manifest.latest()
        assert latest["a"].status == "done"
        assert latest["b"].error == "bad"
        assert set(manifest.last_started()) == {"a"}


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "manifest.jsonl"
    with Manifest(path), pytest.raises(InputError, match="another run"):
        Manifest(path)
    with Manifest(path) as again:  # released on close
        assert again.records == []


def test_unknown_status_is_a_bug(tmp_path: Path) -> None:
    with Manifest(tmp_path / "m.jsonl") as manifest, pytest.raises(ValueError, match="status"):
        manifest.append(Record("a", "a", "a", "maybe"))


def test_path_digest_of_file_and_folder(tmp_path: Path) -> None:
    (tmp_path / "d" / "s").mkdir(parents=True)
    (tmp_path / "d" / "x").write_bytes(b"1")
    (tmp_path / "d" / "s" / "y").write_bytes(b"2")
    assert path_digest(tmp_path / "d" / "x") == hashlib.sha256(b"1").hexdigest()
    before = path_digest(tmp_path / "d")
    (tmp_path / "d" / "s" / "y").write_bytes(b"3")
    assert path_digest(tmp_path / "d") != before


def test_a_full_disk_stops_the_run_with_a_clear_error(tmp_path: Path) -> None:
    from meddenoise.errors import ProcessingError

    with Manifest(tmp_path / "m.jsonl") as manifest:
        manifest.append(Record("a", "a", "a", "started"))
        real = manifest._handle

        class Full:
            def write(self, text: str) -> int:
                raise OSError(28, "No space left on device")

            def __getattr__(self, name: str) -> object:
                return getattr(real, name)

        manifest._handle = Full()  # type: ignore[assignment]
        with pytest.raises(ProcessingError, match="No space left on device"):
            manifest.append(Record("a", "a", "a", "done"))
        manifest._handle = real
    assert [r.status for r in Manifest(tmp_path / "m.jsonl").records] == ["started"]
