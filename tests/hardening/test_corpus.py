"""Every corpus case through the command line: the right output, or one line and exit 2.

``denoise`` and ``info`` run in-process through click's CliRunner with
``MEDDENOISE_DEBUG=1`` and ``catch_exceptions=False``: an exception that the CLI would
turn into an "internal error" fails the test with its traceback instead. A few cases also
run in a real subprocess, to see what a user sees on stderr. For each case the input
folder is unchanged afterwards (same sha256 of every file, nothing added or removed),
the output folder holds the output or nothing (no ``.*.partial`` left behind).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from meddenoise.cli import DEBUG_ENV, main
from meddenoise.io import read_image
from tests.hardening.conftest import run_cli, snapshot
from tests.hardening.corpus import BY_NAME, CASES, SENTINEL, UNWRITABLE, Case

RUN = ("--device", "cpu", "--threads", "1", "-q")

#: Warnings some ok cases replay on purpose (what pydicom tolerated in the file).
pytestmark = pytest.mark.filterwarnings("ignore:A value of '0' for .* 'Number of Frames'")


def _invoke(args: list[str]) -> Result:
    return CliRunner().invoke(main, args, env={DEBUG_ENV: "1"}, catch_exceptions=False)


def _assert_one_line_error(stderr: str, message: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    assert message.lower() in lines[0].lower(), stderr


def _partials(folder: Path) -> list[Path]:
    try:
        return sorted(folder.glob(".*.partial"))
    except OSError:
        return []


def _prepare(case: Case, tmp: Path) -> tuple[Path, Path]:
    """Build the input under ``tmp/in``; return it and the output path."""
    (tmp / "in").mkdir()
    (tmp / "out").mkdir()
    source = case.build(tmp / "in")
    target = tmp / "out" / case.output if isinstance(case.output, str) else case.output(source, tmp)
    return source, target


def _info_args(case: Case) -> list[str]:
    """The options of ``denoise`` that ``info`` takes too (``--series-uid``)."""
    args = list(case.args)
    if "--series-uid" not in args:
        return []
    at = args.index("--series-uid")
    return args[at : at + 2]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_denoise(
    case: Case, tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = _prepare(case, tmp_path)
    model = case.model(tmp_path) if case.model is not None else tiny_model
    before = snapshot(tmp_path / "in")
    model_before = snapshot(model) if model.exists() else {}
    sys_before = sorted(os.listdir(UNWRITABLE)) if UNWRITABLE.is_dir() else []
    with monkeypatch.context() as patched:
        if case.patch is not None:
            case.patch(patched)
        result = _invoke(
            ["denoise", str(source), "-o", str(target), "--model", str(model), *RUN, *case.args]
        )
    assert "Traceback" not in result.output
    assert SENTINEL not in result.output, "patient data in a message"
    after = snapshot(tmp_path / "in")
    if case.expect == "ok" and target.is_relative_to(tmp_path / "in"):  # beside or inside
        written_here = str(target.relative_to(tmp_path / "in"))
        after = {k: v for k, v in after.items() if not Path(k).is_relative_to(written_here)}
    assert after == before, "the input changed"
    assert (snapshot(model) if model.exists() else {}) == model_before, "the model changed"
    assert not _partials(tmp_path / "out")
    assert not _partials(target.parent)
    if UNWRITABLE.is_dir():
        assert sorted(os.listdir(UNWRITABLE)) == sys_before
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    if case.expect == "ok":
        assert result.exit_code == 0, result.output
        image = read_image(target)
        assert image.shape == case.shape
        assert image.pixels.dtype.name == case.dtype
        if target.parent == tmp_path / "out":
            assert written == [target.name]
    else:
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        _assert_one_line_error(result.stderr, case.message)
        culprit = model if case.model is not None else source if not case.info_ok else target
        assert culprit.name in result.stderr, "the message does not name what is at fault"
        assert written == []
        assert not target.exists() or target == source or target == source.parent
    if case.post is not None:
        case.post(tmp_path)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_info(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, _ = _prepare(case, tmp_path)
    before = snapshot(tmp_path / "in")
    with monkeypatch.context() as patched:
        if case.patch is not None:
            case.patch(patched)
        result = _invoke(["info", str(source), *_info_args(case)])
    assert "Traceback" not in result.output
    assert SENTINEL not in result.output, "patient data in a message"
    assert snapshot(tmp_path / "in") == before
    if case.expect == "ok" or case.info_ok:
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("format")
    else:
        assert result.exit_code == 2, result.output
        _assert_one_line_error(result.stderr, case.message)


#: What issue 8 lists, and the cases that answer each item.
REQUIRED = {
    "truncated files": ["dicom_truncated_half", "png_truncated", "mha_truncated"],
    "wrong magic": ["dicom_wrong_magic", "png_text_inside", "nifti_gz_not_gzip"],
    "declared dimensions far beyond the data": ["dicom_declares_huge_frames", "tiff_declares_huge"],
    "empty files": ["dicom_empty_file", "nifti_empty_file", "png_empty_file", "zip_empty_file"],
    "NaN and Inf in NIfTI": ["nifti_nan", "nifti_inf"],
    "1x1 and 1xN images": ["png_1x1", "png_1xN", "dicom_1x1", "dicom_1xN", "nifti_1xN"],
    "16-bit PNG with alpha": ["png_16bit_rgba"],
    "a folder with 5 series": ["folder_5_series", "folder_5_series_chosen"],
    "duplicate slices": ["folder_duplicate_positions", "folder_same_instance_twice"],
    "missing ImagePositionPatient": ["folder_missing_position"],
    "a compressed file without its decoder": ["dicom_decoder_not_installed"],
    "RT and SR objects": ["rtstruct_alone", "sr_alone", "folder_rt_sr_plan"],
    "a symlink loop": ["folder_symlink_loops", "input_symlink_loop"],
    "an unwritable output folder": ["output_unwritable_sys", "output_unwritable_access"],
    "a full disk (simulated)": ["full_disk_nifti", "full_disk_dicom", "full_disk_png"],
    "a pickle-bearing checkpoint": ["checkpoint_pickled_object"],
    "zip members escaping": ["zip_traversal_names"],
    "output over input": ["output_is_input_file", "output_is_input_folder"],
}


def test_corpus_covers_the_issue() -> None:
    errors = [c for c in CASES if c.expect == "error"]
    assert len(CASES) >= 45
    assert len(errors) >= 40
    for item, names in REQUIRED.items():
        assert set(names) <= set(BY_NAME), item
    assert {c.expect for c in CASES} == {"ok", "error"}
    for case in CASES:
        assert case.expect == "ok" or case.message, case.name
        assert case.expect == "error" or (case.shape and case.dtype), case.name


#: Run as a user would: a fresh interpreter, stderr as it comes.
SUBPROCESS_CASES = [
    "dicom_truncated_half",
    "zip_declared_8_gib",
    "nifti_nan",
    "checkpoint_pickled_object",
    "png_1xN",
]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_denoise_in_a_subprocess(name: str, tmp_path: Path, tiny_model: Path) -> None:
    case = BY_NAME[name]
    source, target = _prepare(case, tmp_path)
    model = case.model(tmp_path) if case.model is not None else tiny_model
    before = snapshot(tmp_path / "in")
    done = run_cli("denoise", str(source), "-o", str(target), "--model", str(model), *RUN)
    assert "Traceback" not in done.stderr
    assert snapshot(tmp_path / "in") == before
    if case.expect == "ok":
        assert done.returncode == 0, done.stderr
        assert read_image(target).shape == case.shape
    else:
        assert done.returncode == 2, done.stderr
        _assert_one_line_error(done.stderr, case.message)
        assert list((tmp_path / "out").iterdir()) == []
    if case.post is not None:
        case.post(tmp_path)


def test_info_in_a_subprocess(tmp_path: Path) -> None:
    names = [c.name for c in CASES if c.expect == "error" and not c.info_ok and not c.patch]
    names = names[::6]  # a sample across the formats
    for name in names:
        folder = tmp_path / name
        folder.mkdir()
        source = BY_NAME[name].build(folder)
        done = run_cli("info", str(source))
        assert done.returncode == 2, (name, done.stderr)
        assert "Traceback" not in done.stderr
        _assert_one_line_error(done.stderr, BY_NAME[name].message)


#: Read each huge case in a child with a 6 GiB address-space limit and report how much
#: its peak memory (ru_maxrss, KiB) rose.
_MEMORY_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
from meddenoise.errors import InputError
from meddenoise.io import read_image
for name, path in json.loads(sys.argv[1]):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        read_image(path)
        outcome = "read"
    except InputError as exc:
        outcome = str(exc)
    except MemoryError:
        outcome = "MemoryError"
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps([name, outcome, after - before]), flush=True)
"""

#: Peak memory a refused huge input may add (the declared sizes run to terabytes).
MEMORY_BOUND_KIB = 200 * 1024


def test_declared_sizes_far_beyond_the_data_allocate_nothing(tmp_path: Path) -> None:
    huge = [c for c in CASES if c.huge]
    assert len(huge) >= 8
    paths = []
    for case in huge:
        folder = tmp_path / case.name
        folder.mkdir()
        paths.append([case.name, str(case.build(folder))])
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, json.dumps(paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r[0] for r in reports] == [c.name for c in huge]
    for (name, outcome, rise), case in zip(reports, huge, strict=True):
        assert case.message.lower() in outcome.lower(), (name, outcome)
        assert rise < MEMORY_BOUND_KIB, f"{name}: peak memory rose by {rise} KiB"


def test_pickled_checkpoint_would_run_code(tmp_path: Path) -> None:
    """The payload of checkpoint_pickled_object is live: unpickled unsafely, it runs."""
    import torch

    from tests.hardening.corpus import pickled_checkpoint

    path = pickled_checkpoint(tmp_path)
    assert not (tmp_path / "pwned").exists()
    torch.load(path, weights_only=False)  # what meddenoise never does
    assert (tmp_path / "pwned").exists()
