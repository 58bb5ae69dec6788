"""Atomic output: write under a temporary name beside the target, then rename.

A failure (an exception, a full disk, a kill) leaves no partial output: either the
complete file or folder appears under its final name, or nothing does. Existing outputs
are replaced only when asked (``overwrite=True``), and never when they are the input.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from meddenoise.errors import InputError

__all__ = ["atomic_output", "check_output_path"]


def check_output_path(
    target: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Validate an output path before anything is computed.

    Parameters
    ----------
    target : path-like
        The file or folder to write.
    overwrite : bool
        Allow replacing an existing output.
    inputs : iterable of path-like
        Paths that were read: the output may be none of them, nor a folder holding them
        when the output is a folder that would be replaced.

    Returns
    -------
    Path
        The absolute target path.

    Raises
    ------
    InputError
        If the target exists and ``overwrite`` is false, would replace an input, or its
        parent folder does not exist or is not writable.
    """
    out = Path(target).expanduser().absolute()
    for source in inputs:
        src = Path(source).expanduser().absolute()
        if _same(out, src) or (out.is_dir() and _inside(src, out)):
            raise InputError(f"{out}: refusing to write over the input {src}")
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise InputError(f"{out}: already exists (--overwrite replaces it)")
    parent = out.parent
    if not parent.is_dir():
        raise InputError(f"{out}: output folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{out}: output folder {parent} is not writable")
    return out


@contextmanager
def atomic_output(
    target: str | os.PathLike[str], *, overwrite: bool = False, folder: bool = False
) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it to ``target`` on success.

    Parameters
    ----------
    target : path-like
        Final file or folder.
    overwrite : bool
        Replace an existing target (checked before and again at the rename).
    folder : bool
        The output is a folder (the temporary path is created as an empty folder);
        otherwise it is a file (the temporary path does not exist yet).

    Yields
    ------
    Path
        Where to write.

    Raises
    ------
    InputError
        If the target exists and ``overwrite`` is false, or its folder is missing or not
        writable, or writing fails with an ``OSError`` (a full disk, a quota, an I/O
        error); the temporary path is removed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_output(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (d / "a.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('done', ['a.txt'])
    """
    out = check_output_path(target, overwrite=overwrite)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    except OSError as exc:
        raise InputError(f"{out}: cannot write in {out.parent} ({exc.strerror})") from None
    work = tmp if folder else tmp / out.name
    try:
        try:
            yield work
        except OSError as exc:  # a full disk, a quota, an I/O error while writing
            raise InputError(f"{out}: cannot write ({exc.strerror or exc})") from None
        if not work.exists():
            raise InputError(f"{out}: nothing was written")
        if out.exists() or out.is_symlink():
            if not overwrite:
                raise InputError(f"{out}: already exists (--overwrite replaces it)")
            _remove(out)
        os.replace(work, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _inside(child: Path, folder: Path) -> bool:
    try:
        child.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
