"""docs/deploy.md's Orthanc auto-routing, run for real: Orthanc -> node -> Orthanc, no loop."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from meddenoise.node import parse_destination
from tests.node.conftest import storescu, wait_for
from tests.node.orthanc import free_port

pytest.importorskip("pynetdicom")

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def lua_script() -> str:
    (script,) = re.findall(r"```lua\n(.*?)```", DEPLOY.read_text(), flags=re.S)
    return script


def test_the_documented_lua_script_routes_each_series_once(
    start_node, make_orthanc, ct20, tmp_path
):
    node_port = free_port()
    lua = tmp_path / "route.lua"
    lua.write_text(lua_script())
    orthanc = make_orthanc(
        start=False,
        node_port=node_port,
        StableAge=1,
        LuaScripts=[str(lua)],
        DicomModalities={"meddenoise": ["MEDDENOISE", "127.0.0.1", node_port]},
    )
    node = start_node(
        port=node_port,
        forward=(parse_destination(f"127.0.0.1:{orthanc.dicom_port}:ORTHANC"),),
        allow_calling=("ORTHANC",),
    )
    orthanc.start()
    assert storescu(ct20, orthanc.dicom_port, called="ORTHANC").returncode == 0

    def both() -> list[dict] | None:
        found = orthanc.series()
        return found if sorted(len(s["Instances"]) for s in found) == [20, 20] else None

    wait_for(both, 60, "the source and the derived series in Orthanc")
    wait_for(
        lambda: "(made by the node)" in orthanc.log_tail(), 30, "the script to skip the result"
    )
    log = orthanc.log_tail()
    assert log.count("meddenoise: routing series") == 1
    assert log.count("meddenoise: not routing series") == 1
    assert len(orthanc.series()) == 2
    (record,) = node.spool.forwarded()
    assert record.instances == 20
    assert node.spool.incoming() == []
