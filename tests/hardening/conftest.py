"""Fixtures of the hardening tests: a tiny model and snapshots of folders."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

#: A script run in a subprocess by test_atheris.py: importing it instruments modules.
collect_ignore = ["atheris_readers.py"]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-block NEN checkpoint: fast, and a real weights file like any other."""
    from meddenoise.checkpoint import save_checkpoint
    from meddenoise.models import build_model

    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, build_model("nen", depth=1))
    return path


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (not following links): sha256, link target or kind."""
    entries: dict[str, str] = {}
    paths = [root] if not root.is_dir() or root.is_symlink() else []
    if not paths:
        for folder, dirs, files in os.walk(root):
            paths.extend(Path(folder, name) for name in dirs + files)
    for path in paths:
        mode = path.lstat().st_mode
        key = str(path.relative_to(root)) if path != root else "."
        if stat.S_ISLNK(mode):
            entries[key] = f"link -> {os.readlink(path)}"
        elif stat.S_ISREG(mode):
            entries[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            entries[key] = stat.filemode(mode)[0]
    return entries


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``meddenoise ARGS`` in a fresh interpreter, as a user would (stderr as it comes).

    Python's warnings reach stderr here, which pytest's capture of warnings hides in
    process.
    """
    env = {k: v for k, v in os.environ.items() if k != "MEDDENOISE_DEBUG"}
    code = "from meddenoise.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
