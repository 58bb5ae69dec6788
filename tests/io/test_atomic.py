import os

import pytest

from meddenoise.errors import InputError
from meddenoise.io.atomic import atomic_output, check_output_path


def test_a_failure_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out.nii"

    def write_then_fail():
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert list(tmp_path.iterdir()) == []


def test_a_folder_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "series"
    with atomic_output(target, folder=True) as tmp:
        for k in range(3):
            (tmp / f"IM{k}.dcm").write_bytes(b"x")
        assert not target.exists()
    assert sorted(p.name for p in target.iterdir()) == ["IM0.dcm", "IM1.dcm", "IM2.dcm"]
    assert [p.name for p in tmp_path.iterdir()] == ["series"]


def test_existing_output_is_kept_unless_overwrite(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with pytest.raises(InputError, match="already exists"), atomic_output(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"old"
    with atomic_output(target, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"


def test_nothing_written_is_an_error(tmp_path):
    with pytest.raises(InputError, match="nothing was written"), atomic_output(tmp_path / "x"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_output_over_the_input_is_refused_even_with_overwrite(tmp_path):
    source = tmp_path / "in.nii"
    source.write_bytes(b"data")
    with pytest.raises(InputError, match="over the input"):
        check_output_path(source, overwrite=True, inputs=[source])
    folder = tmp_path / "dicom"
    folder.mkdir()
    (folder / "IM1").write_bytes(b"x")
    with pytest.raises(InputError, match="over the input"):
        check_output_path(folder, overwrite=True, inputs=[folder / "IM1"])
    assert source.read_bytes() == b"data"


def test_missing_or_unwritable_folder(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="does not exist"):
        check_output_path(tmp_path / "nope" / "out.png")
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(InputError, match="not writable"):
        check_output_path(tmp_path / "out.png")
