from pathlib import Path

import pytest

import meddenoise

tomllib = pytest.importorskip("tomllib")

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_extras_and_entry_point_are_declared():
    meta = tomllib.loads(PYPROJECT.read_text())["project"]
    extras = meta["optional-dependencies"]
    assert {"test", "dicom-codecs", "eval", "distributed"} <= set(extras)
    codecs = " ".join(extras["dicom-codecs"])
    for name in ("pylibjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle", "python-gdcm"):
        assert name in codecs
    assert any(d.startswith("bm3d") for d in extras["eval"])
    assert any(d.startswith("ray") for d in extras["distributed"])
    # bm3d (non-commercial licence) and ray stay optional
    assert not any(d.startswith(("bm3d", "ray")) for d in meta["dependencies"])
    assert meta["scripts"]["meddenoise"] == "meddenoise.cli:main"
    assert meta["requires-python"] == ">=3.10"


def test_lazy_exports_resolve():
    assert set(meddenoise.__all__) == {"__version__", *meddenoise._EXPORTS}
    for name in meddenoise.__all__:
        assert getattr(meddenoise, name) is not None
    assert "build_model" in dir(meddenoise)
