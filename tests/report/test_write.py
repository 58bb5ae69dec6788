from __future__ import annotations

from pathlib import Path

import pytest

from meddenoise.errors import InputError
from meddenoise.report import check_report_path, write_report
from tests.report.test_html import _report


def test_write_report_is_atomic_and_refuses_to_replace_without_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    assert write_report([_report()], target) == target
    first = target.read_text(encoding="utf-8")
    assert first.startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    with pytest.raises(InputError, match="already exists"):
        write_report([_report("other")], target)
    assert target.read_text(encoding="utf-8") == first
    write_report([_report("other")], target, overwrite=True)
    assert "other_out" in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


@pytest.mark.parametrize("name", ["report.png", "report", "report.html.gz"])
def test_a_report_must_be_html(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match=r"must be an \.html file"):
        check_report_path(tmp_path / name)
    assert check_report_path(tmp_path / "r.HTM") == tmp_path / "r.HTM"


def test_a_report_is_never_an_input_or_output_nor_inside_one(tmp_path: Path) -> None:
    series = tmp_path / "series"
    series.mkdir()
    page = tmp_path / "page.html"
    page.write_text("x")
    with pytest.raises(InputError, match="inside the input"):
        check_report_path(series / "r.html", inputs=[series])
    with pytest.raises(InputError, match="inside the output"):
        check_report_path(series / "r.html", outputs=[series])
    with pytest.raises(InputError, match="the input"):
        check_report_path(page, overwrite=True, inputs=[page])
    with pytest.raises(InputError, match="does not exist"):
        check_report_path(tmp_path / "missing" / "r.html")
    assert check_report_path(page, overwrite=True, inputs=[series]) == page
