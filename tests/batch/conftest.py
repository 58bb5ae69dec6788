"""Fixtures of the batch tests: a tiny model and a small folder of real inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "data"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-block NEN: fast, and real weights file like any checkpoint."""
    from meddenoise.checkpoint import save_checkpoint
    from meddenoise.models import build_model

    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, build_model("nen", depth=1))
    return path


def make_inputs(root: Path, shared_data: Path) -> Path:
    """A study folder: a 3-slice CT series, two NIfTI MRI volumes, a PNG and a stray file."""
    (root / "study1" / "ct").mkdir(parents=True)
    for member in (EXAMPLES / "ct_phantom").iterdir():
        shutil.copy(member, root / "study1" / "ct" / member.name)
    (root / "mri").mkdir()
    for name in ("S0_10slices.nii.gz", "aniso_vox.nii.gz"):
        shutil.copy(shared_data / "mri" / name, root / "mri" / name)
    (root / "misc").mkdir()
    shutil.copy(EXAMPLES / "cell.png", root / "misc" / "cell.png")
    (root / "misc" / "notes.txt").write_text("not an image\n")
    return root


@pytest.fixture
def inputs(tmp_path: Path, shared_data: Path) -> Path:
    return make_inputs(tmp_path / "in", shared_data)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative name to bytes), manifests left out."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("manifest")
    }
