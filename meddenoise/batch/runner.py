"""Running a batch: plan against the manifest, process each item once, record the outcome.

:func:`run_batch` finds the items (:mod:`meddenoise.batch.discover`), keeps this shard's
share, decides from the manifest (:mod:`meddenoise.batch.manifest`) and the output
folder what is left to do, and processes it with the model loaded once, here
(``engine="local"``) or on a Ray cluster (``engine="ray"``,
:mod:`meddenoise.batch.ray_engine`). Only this process writes the manifest.

DICOM outputs get deterministic UIDs and dates (a function of the source and the
model), so the same input gives the same output bytes on every run and every shard.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meddenoise.batch.discover import BatchItem, find_items, output_name, shard_items
from meddenoise.batch.manifest import Manifest, Record, path_digest
from meddenoise.errors import InputError, MeddenoiseError

if TYPE_CHECKING:
    from meddenoise.api import LoadedModel

__all__ = [
    "BATCH_ENTROPY",
    "BatchOptions",
    "BatchSummary",
    "Outcome",
    "WorkItem",
    "parse_shard",
    "process_item",
    "run_batch",
]

#: Entropy of the deterministic UIDs of batch outputs (see :mod:`meddenoise.io.dicom.uids`).
BATCH_ENTROPY = "meddenoise-batch"

#: Engines that run the items.
ENGINES = ("local", "ray")


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``K/N``: shard K (0 to N-1) of N.

    >>> parse_shard("0/4")
    (0, 4)
    >>> parse_shard("4/4")
    Traceback (most recent call last):
    ...
    meddenoise.errors.InputError: --shard 4/4: K must be 0 to N-1 (here 0 to 3)
    """
    head, sep, tail = text.partition("/")
    try:
        index, count = int(head), int(tail)
    except ValueError:
        index = count = -1
    if not sep or count < 1:
        raise InputError(f"--shard {text}: expected K/N with N >= 1, e.g. 0/4")
    if not 0 <= index < count:
        raise InputError(f"--shard {text}: K must be 0 to N-1 (here 0 to {count - 1})")
    return index, count


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs (all but the folders and the model).

    Attributes
    ----------
    pattern : str, optional
        Glob on paths relative to the input folder; default every readable file.
    output_format : str, optional
        ``dicom``, ``nifti``, ``metaimage``, ``png``, ``jpeg`` or ``tiff``; default the
        input's format.
    shard : tuple of int
        ``(K, N)``: process only the items of shard K of N.
    skip_existing : bool
        Skip items whose output exists although the manifest does not record it.
    overwrite : bool
        Replace such outputs instead.
    fail_fast : bool
        Stop at the first failed item.
    manifest : Path, optional
        The manifest file; default ``OUTPUT/manifest.jsonl``, or
        ``OUTPUT/manifest-K-of-N.jsonl`` for a shard.
    modality : str, optional
        Modality of files that do not say (NIfTI, raster).
    device, precision : str
        Where and in which arithmetic the model runs.
    tile : int
        Tile size of large slices.
    uid_prefix : str, optional
        Organisation UID root of derived DICOM UIDs; default ``2.25`` UIDs.
    """

    pattern: str | None = None
    output_format: str | None = None
    shard: tuple[int, int] = (0, 1)
    skip_existing: bool = False
    overwrite: bool = False
    fail_fast: bool = False
    manifest: Path | None = None
    modality: str | None = None
    device: str = "auto"
    precision: str = "auto"
    tile: int = 512
    uid_prefix: str | None = None

    def manifest_path(self, output_dir: Path) -> Path:
        """Where the manifest of this run lives."""
        if self.manifest is not None:
            return self.manifest
        index, count = self.shard
        name = "manifest.jsonl" if count == 1 else f"manifest-{index}-of-{count}.jsonl"
        return output_dir / name


@dataclass(frozen=True)
class WorkItem:
    """An item to process, with its absolute paths (what a worker needs)."""

    item: BatchItem
    source: Path
    output: Path
    output_rel: str


@dataclass(frozen=True)
class Outcome:
    """What processing one item gave."""

    key: str
    status: str
    seconds: float
    input_sha256: str | None = None
    output_sha256: str | None = None
    error: str | None = None
    slices: int = 0
    worker: str = ""


@dataclass
class BatchSummary:
    """The result of :func:`run_batch`.

    Attributes
    ----------
    found : int
        Items under the input folder (all shards).
    total : int
        Items of this shard.
    done : int
        Items processed by this run.
    already_done : int
        Items finished by an earlier run (skipped without a new record).
    recovered : int
        Items an earlier run finished writing but did not record (recorded now).
    skipped : int
        Items skipped because their output existed (``skip_existing``).
    failed : int
        Items that failed.
    not_run : int
        Items left after ``fail_fast`` stopped the run.
    seconds : float
        Wall time.
    manifest : Path
        The manifest file.
    failures : list of tuple of str
        ``(key, error)`` of each failure.
    """

    found: int = 0
    total: int = 0
    done: int = 0
    already_done: int = 0
    recovered: int = 0
    skipped: int = 0
    failed: int = 0
    not_run: int = 0
    seconds: float = 0.0
    manifest: Path = field(default_factory=Path)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no item failed."""
        return self.failed == 0


#: ``on_item(index, total, item, outcome)`` after each item of this run (1-based index).
ItemCallback = Callable[[int, int, BatchItem, Outcome], None]


def run_batch(
    input_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | LoadedModel = "default",
    options: BatchOptions | None = None,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
    on_item: ItemCallback | None = None,
) -> BatchSummary:
    """Denoise every volume, image and DICOM series under a folder into another.

    The output mirrors the input's folders. A manifest records each item; a run that
    was killed and is started again skips what finished and processes nothing twice.

    Parameters
    ----------
    input_dir, output_dir : path-like
        Where to read and write; ``output_dir`` is created if missing and may not be
        ``input_dir`` (it may lie inside it: it is then left out of the search).
    model : str, path-like or LoadedModel
        ``"default"``, a checkpoint, or a loaded model (``engine="local"`` only).
    options : BatchOptions, optional
        Pattern, format, shard, skip and failure policy.
    engine : str
        ``"local"`` (this process) or ``"ray"`` (a Ray cluster, one model per worker).
    address : str, optional
        Ray cluster address (``ray://host:10001`` or ``host:6379``); default a local
        cluster started for this run.
    workers : int, optional
        Ray workers (default: one per CPU of the cluster).
    on_item : callable, optional
        Called after each item processed or failed by this run.

    Returns
    -------
    BatchSummary

    Raises
    ------
    InputError
        For a missing input folder, an output folder that is the input, bad options,
        no item at all under the input, or a manifest held by another run.
    """
    started = time.perf_counter()
    opts = options or BatchOptions()
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r} (one of: {', '.join(ENGINES)})")
    src, out = _check_folders(input_dir, output_dir)
    items = find_items(src, pattern=opts.pattern, exclude=out)
    if not items:
        what = f" matching {opts.pattern!r}" if opts.pattern else ""
        raise InputError(f"{src}: no volume, image or DICOM series{what} found")
    index, count = opts.shard
    mine = shard_items(items, index, count)
    for item in mine:  # fail on a bad --output-format before any work
        output_name(item, opts.output_format)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    summary = BatchSummary(found=len(items), total=len(mine))
    with Manifest(opts.manifest_path(out)) as manifest:
        summary.manifest = manifest.path
        todo = _plan(mine, src, out, opts, manifest, summary)
        if todo:
            if engine == "ray":
                from meddenoise.batch.ray_engine import process_on_ray

                if not isinstance(model, (str, os.PathLike)):
                    raise InputError("the Ray engine takes a model name or path, not a model")
                outcomes = process_on_ray(
                    todo, model=_model_ref(model), options=opts, address=address, workers=workers
                )
            else:
                outcomes = _process_here(todo, model=model, options=opts)
            _record(todo, outcomes, manifest, summary, opts, on_item)
    summary.seconds = time.perf_counter() - started
    return summary


def _check_folders(
    input_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str]
) -> tuple[Path, Path]:
    src = Path(input_dir).expanduser().absolute()
    out = Path(output_dir).expanduser().absolute()
    if not src.is_dir():
        raise InputError(f"{src}: no such folder" if not src.exists() else f"{src}: not a folder")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    if out.resolve() == src.resolve():
        raise InputError(f"{out}: the output folder may not be the input folder")
    if src.resolve().is_relative_to(out.resolve()):
        raise InputError(f"{out}: the output folder may not hold the input folder")
    return src, out


def _model_ref(model: str | os.PathLike[str]) -> str:
    text = os.fspath(model)
    return text if text == "default" else str(Path(text).expanduser().absolute())


def _plan(
    items: list[BatchItem],
    src: Path,
    out: Path,
    opts: BatchOptions,
    manifest: Manifest,
    summary: BatchSummary,
) -> list[WorkItem]:
    """Decide each item's fate from the manifest and the output folder."""
    latest = manifest.latest()
    started = manifest.last_started()
    todo = []
    for item in items:
        rel = output_name(item, opts.output_format)
        work = WorkItem(item, src / item.source, out / rel, rel)
        _remove_partials(work.output)
        last = latest.get(item.key)
        exists = work.output.exists()
        if last is not None and last.status == "done" and exists and last.output == rel:
            summary.already_done += 1
            continue
        begun = started.get(item.key)
        interrupted = last is not None and last.status == "started" and begun is not None
        if interrupted and exists and begun is not None and _newer(work.output, begun.time_ns):
            manifest.append(
                _record_of(work, "done", input_sha=_input_digest(work), error="recovered")
            )
            summary.recovered += 1
            continue
        if exists and not opts.overwrite and opts.skip_existing:
            manifest.append(_record_of(work, "skipped", error="output exists"))
            summary.skipped += 1
            continue
        todo.append(work)
    return todo


def _remove_partials(target: Path) -> None:
    """Delete what a killed run left of this output (the atomic writer's temporary folders)."""
    if not target.parent.is_dir():
        return
    for leftover in target.parent.glob(f".{_glob_escape(target.name)}.*.partial"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


def _glob_escape(name: str) -> str:
    return "".join(f"[{ch}]" if ch in "*?[]" else ch for ch in name)


def _newer(path: Path, time_ns: int) -> bool:
    """Tell whether ``path`` was written after ``time_ns`` (to the second, for coarse clocks)."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return False
    return mtime >= (time_ns // 1_000_000_000) * 1_000_000_000


def _input_digest(work: WorkItem) -> str | None:
    """SHA-256 of an input file, or of a series folder's own DICOM files."""
    try:
        if work.source.is_dir():
            import hashlib

            outer = hashlib.sha256()
            for member in sorted(p for p in work.source.iterdir() if p.is_file()):
                outer.update(f"{member.name}\0{path_digest(member)}\n".encode())
            return outer.hexdigest()
        return path_digest(work.source)
    except OSError:
        return None


def _record_of(
    work: WorkItem,
    status: str,
    *,
    input_sha: str | None = None,
    error: str | None = None,
    seconds: float | None = None,
) -> Record:
    output_sha = None
    if status == "done" and work.output.exists():
        output_sha = path_digest(work.output)
    return Record(
        key=work.item.key,
        input=work.item.source,
        output=work.output_rel,
        status=status,
        input_sha256=input_sha,
        output_sha256=output_sha,
        seconds=None if seconds is None else round(seconds, 3),
        error=error,
    )


def _process_here(
    todo: list[WorkItem], *, model: str | os.PathLike[str] | LoadedModel, options: BatchOptions
) -> Iterator[tuple[WorkItem, Outcome]]:
    from meddenoise.api import load_model

    loaded = model if not isinstance(model, (str, os.PathLike)) else None
    for work in todo:
        if loaded is None:
            # Loaded at the first item, so that a run with nothing to do loads nothing.
            assert isinstance(model, (str, os.PathLike))
            loaded = load_model(model, device=options.device)
        yield work, process_item(work, loaded, options)


def process_item(work: WorkItem, model: LoadedModel, options: BatchOptions) -> Outcome:
    """Denoise one item into its output; errors become a failed outcome, never a raise.

    Parameters
    ----------
    work : WorkItem
        The item and its paths.
    model : LoadedModel
        The model, loaded once per process.
    options : BatchOptions
        Format, overwrite and compute options.

    Returns
    -------
    Outcome
    """
    from meddenoise.api import denoise_file

    tick = time.perf_counter()
    input_sha = _input_digest(work)
    try:
        work.output.parent.mkdir(parents=True, exist_ok=True)
        result = denoise_file(
            work.source,
            work.output,
            model=model,
            precision=options.precision,
            tile=options.tile,
            modality=options.modality,
            series_uid=work.item.series_uid,
            output_format=options.output_format or work.item.format,
            overwrite=options.overwrite,
            entropy=BATCH_ENTROPY,
            uid_prefix=options.uid_prefix,
        )
    except MeddenoiseError as exc:
        return Outcome(
            work.item.key, "failed", time.perf_counter() - tick, input_sha, None, _line(exc)
        )
    except Exception as exc:  # any item's failure is recorded; the run goes on
        message = f"{type(exc).__name__}: {_line(exc)}"
        return Outcome(
            work.item.key, "failed", time.perf_counter() - tick, input_sha, None, message
        )
    return Outcome(
        work.item.key,
        "done",
        time.perf_counter() - tick,
        input_sha,
        path_digest(work.output),
        None,
        result.slices,
        _worker(),
    )


def _failed(work: WorkItem, tick: float, input_sha: str | None, error: str) -> Outcome:
    seconds = time.perf_counter() - tick
    return Outcome(work.item.key, "failed", seconds, input_sha, None, error, 0, _worker())


def _worker() -> str:
    """Name the process that did the work: ``host:pid``."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _record(
    todo: list[WorkItem],
    outcomes: Iterable[tuple[WorkItem, Outcome]],
    manifest: Manifest,
    summary: BatchSummary,
    opts: BatchOptions,
    on_item: ItemCallback | None,
) -> None:
    """Write ``started`` then the outcome of each item, in the order they finish."""
    pending = {work.item.key for work in todo}
    for work in todo:
        manifest.append(_record_of(work, "started"))
    position = 0
    stream = iter(outcomes)
    try:
        for work, outcome in stream:
            position += 1
            pending.discard(work.item.key)
            record = _record_of(work, outcome.status, input_sha=outcome.input_sha256)
            record = replace(
                record,
                output_sha256=outcome.output_sha256,
                seconds=round(outcome.seconds, 3),
                error=outcome.error,
                worker=outcome.worker or None,
            )
            manifest.append(record)
            if outcome.status == "done":
                summary.done += 1
            else:
                summary.failed += 1
                summary.failures.append((work.item.key, outcome.error or "failed"))
            if on_item is not None:
                on_item(position, len(todo), work.item, outcome)
            if outcome.status == "failed" and opts.fail_fast:
                break
    finally:
        close: Any = getattr(stream, "close", None)
        if close is not None:
            close()
    summary.not_run = len(pending)
