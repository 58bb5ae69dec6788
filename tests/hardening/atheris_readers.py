"""Coverage-guided fuzzing of the readers with atheris (libFuzzer for Python).

Run from the repository root, with libFuzzer's options and corpus folders::

    python -m tests.hardening.atheris_readers -runs=10000 -seed=1 CORPUS_DIR

The first byte of an input picks the file suffix (so the format), the rest is the file.
:func:`meddenoise.io.read_image` must return an image or raise ``InputError``: anything
else is a crash, which libFuzzer reports with the input that caused it. ``--seeds DIR``
writes the seed files of :mod:`tests.hardening.seeds` into ``DIR`` as a first corpus.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import warnings
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["meddenoise", "pydicom", "tifffile", "nibabel"]):
    import meddenoise.io.dicom.read
    import meddenoise.io.metaimage
    import meddenoise.io.nifti
    import meddenoise.io.raster  # noqa: F401 - instrumented now, used through read_image
    from meddenoise.errors import InputError
    from meddenoise.io import read_image

SUFFIXES = (".dcm", ".nii", ".nii.gz", ".mha", ".png", ".jpg", ".tif", ".zip")
WORK = Path(tempfile.mkdtemp(prefix="meddenoise-atheris-"))


def test_one_input(data: bytes) -> None:
    """Write ``data[1:]`` with the suffix ``data[0]`` picks, and read it."""
    if not data:
        return
    path = WORK / f"case{SUFFIXES[data[0] % len(SUFFIXES)]}"
    path.write_bytes(data[1:])
    with contextlib.suppress(InputError):
        read_image(path)


def write_seeds(folder: Path) -> int:
    """Write every seed, prefixed with its suffix's byte; return how many."""
    from tests.hardening.seeds import seeds

    folder.mkdir(parents=True, exist_ok=True)
    for name, (suffix, content) in seeds().items():
        (folder / name).write_bytes(bytes([SUFFIXES.index(suffix)]) + content)
    return len(seeds())


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--seeds":
        print(write_seeds(Path(sys.argv[2])), "seeds")
        return
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
