"""docs/usage.md: every example runs as written, every command line matches the CLI.

Each ```bash block runs in a fresh working folder in which ``examples``, ``configs`` and
``tools`` link to the repository's, so the commands run exactly as documented (relative
paths included) and write nothing into the repository. ``meddenoise`` commands run in
this process (click's runner: torch is imported once), ``python tools/...`` and
``meddenoise serve`` as processes. Each command must end with exit code 0, or the code of
its ``# exit N`` comment, and leave the outputs it names (``-o``, ``--out``, ``--report``,
the run folder's checkpoints...). ```python blocks run the same way.

The shipped default model takes about 7 s per 512x512 slice on a 2-core CPU, so the
blocks that denoise whole slices with it run with a tiny network in the default run
(``--model default`` or no ``--model`` becomes ``--model TINY``, ``load_model("default")``
becomes ``load_model(TINY)``) and as written, default model included, in the slow run.
```text blocks hold synopses (checked against each command's options, both ways) and
placeholders (checked by click's parser, then skipped with the reason they cannot run).
"""

from __future__ import annotations

import ast
import json
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from meddenoise.cli import main

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "usage.md"
#: What the examples read, linked into each working folder.
LINKED = ("examples", "configs", "tools")
MEDDENOISE = Path(sys.executable).parent / "meddenoise"

#: Why each placeholder (a command in a ```text block) is not run, by a part of its text.
PLACEHOLDERS = {
    "configs/default_train.toml": "the default model's run: ../shared/data and hours of training",
    "--pairs-root mayo/": "needs the Mayo Clinic low-dose CT data (not shipped)",
    "--engine ray --address": "needs a Ray cluster (tests/batch/test_ray_engine.py starts one)",
    "pacs.example.org": "needs a PACS; the bash example of serve runs a node on 127.0.0.1",
    "results/interim.csv": "needs ../shared/data and the eval extra, and takes many minutes",
}

#: Blocks that use the shipped model on whole slices run with a tiny one except in the
#: slow run; evaluate's example works on one 128x128 crop and always runs as written.
MODEL_COMMANDS = ("denoise", "batch")


@dataclass(frozen=True)
class Block:
    """A fenced block of the document."""

    language: str
    code: str
    line: int
    section: str

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.section.lower()).strip("-")
        return f"{slug}-L{self.line}"


@dataclass(frozen=True)
class Command:
    """One command line of a block (continuation lines joined)."""

    text: str
    argv: tuple[str, ...]
    exit_code: int

    @property
    def kind(self) -> str:
        if self.argv[0] == "meddenoise":
            return "meddenoise"
        if self.argv[:2] == ("python", "tools/remote_train.py"):
            return "tool"
        if self.argv[0] in ("pip", "python3"):
            return "install"
        return "other"


def _blocks() -> list[Block]:
    blocks, section, fence, body, start = [], "", None, [], 0
    for number, line in enumerate(DOC.read_text().splitlines(), start=1):
        if fence is None:
            if line.startswith("#"):
                section = line.lstrip("#").strip().strip("`")
            elif match := re.fullmatch(r"```(\w+)", line):
                fence, body, start = match.group(1), [], number
        elif line == "```":
            blocks.append(Block(fence, "\n".join(body) + "\n", start, section))
            fence = None
        else:
            body.append(line)
    assert fence is None, f"{DOC}: unclosed block at line {start}"
    return blocks


def _commands(block: Block) -> list[Command]:
    commands = []
    lines: list[str] = []
    for line in block.code.replace("\\\n", " ").splitlines():
        if line.startswith(" ") and lines:  # a synopsis goes on on indented lines
            lines[-1] += line
        else:
            lines.append(line)
    for text in lines:
        text = " ".join(text.split())
        if not text or text.startswith("#"):
            continue
        expected = re.search(r"#\s*exit (\d+)\b", text)
        argv = tuple(shlex.split(text, comments=True))
        commands.append(Command(text, argv, int(expected.group(1)) if expected else 0))
    return commands


def _is_synopsis(command: Command) -> bool:
    """A shape such as ``meddenoise denoise INPUT -o OUTPUT [--model default|PATH]``."""
    return any(mark in " ".join(command.argv) for mark in ("[", "|", "..."))


BLOCKS = _blocks()
BASH = [b for b in BLOCKS if b.language == "bash"]
PYTHON = [b for b in BLOCKS if b.language == "python"]
TEXT_COMMANDS = [
    (block, command)
    for block in BLOCKS
    if block.language == "text"
    for command in _commands(block)
    if command.kind in ("meddenoise", "tool")
]
SYNOPSES = [(b, c) for b, c in TEXT_COMMANDS if _is_synopsis(c)]
PLACEHOLDER_COMMANDS = [(b, c) for b, c in TEXT_COMMANDS if not _is_synopsis(c)]


def _with_tiny_model(argv: tuple[str, ...], tiny: Path) -> tuple[str, ...]:
    """``argv`` with the shipped model replaced by ``tiny`` where it denoises whole slices."""
    if argv[0] != "meddenoise" or argv[1] not in (*MODEL_COMMANDS, "finetune"):
        return argv
    option = "--from" if argv[1] == "finetune" else "--model"
    args = list(argv)
    if option not in args:
        return (*args, option, str(tiny))
    at = args.index(option) + 1
    if args[at] == "default":
        args[at] = str(tiny)
    return tuple(args)


def _python_with_tiny_model(code: str, tiny: Path) -> str:
    return code.replace('load_model("default"', f"load_model({str(tiny)!r}")


def _uses_default_model(block: Block) -> bool:
    probe = Path("TINY")
    if block.language == "python":
        return _python_with_tiny_model(block.code, probe) != block.code
    return any(_with_tiny_model(c.argv, probe) != c.argv for c in _commands(block))


def _option(argv: tuple[str, ...], *names: str) -> str | None:
    for name in names:
        if name in argv:
            return argv[argv.index(name) + 1]
    return None


def _check_outputs(argv: tuple[str, ...], output: str) -> None:
    """The files and folders a command that succeeded says it wrote exist."""
    command = argv[1]
    out = Path(_option(argv, "-o", "--output", "--out") or "")
    if command in ("denoise", "simulate-ldct"):
        if out.suffix:
            assert out.stat().st_size > 0, out
        else:  # a derived DICOM series
            assert list(out.glob("*.dcm")), out
    elif command == "batch":
        shard = _option(argv, "--shard")
        name = "manifest.jsonl"
        if shard is not None:
            name = "manifest-{}-of-{}.jsonl".format(*shard.split("/"))
        manifest = Path(_option(argv, "--manifest") or out / name)
        records = [json.loads(line) for line in manifest.read_text().splitlines()]
        assert records, manifest
        for record in records:
            if record["status"] == "done":
                assert (out / record["output"]).exists(), record["output"]
    elif command in ("train", "run"):  # meddenoise train, tools/remote_train.py run
        for name in ("last.pt", "best.pt", "log.jsonl"):
            assert (out / name).is_file(), out / name
    elif command == "pack":
        assert out.is_file(), out
    elif command == "finetune":
        assert out.is_file(), out
        run_dir = Path(_option(argv, "--run-dir") or out.with_name(f"{out.stem}-run"))
        for name in ("last.pt", "best.pt", "log.jsonl"):
            assert (run_dir / name).is_file(), run_dir / name
    elif command == "evaluate" and out != Path():
        for path in (out, out.with_suffix(".md")):
            assert path.is_file(), path
    elif command in ("info", "models"):
        assert output.strip()
    if (report := _option(argv, "--report")) is not None:
        text = Path(report).read_text()
        assert text.lstrip().lower().startswith("<!doctype html"), report
        assert "<script" not in text.lower()


def _examples_files() -> set[str]:
    return {str(p.relative_to(REPO)) for p in (REPO / "examples").rglob("*")}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh folder with the repository's sample data, configurations and tools linked.

    torch runs on one thread meanwhile, whatever the commands ask for (``--threads``, or
    all cores by default): on a machine shared with other work, two threads that wait
    for each other at every convolution made the examples four to ten times slower.
    Results do not depend on it (beyond one stored unit, see the batch section).
    """
    import torch

    for name in LINKED:
        (tmp_path / name).symlink_to(REPO / name, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # for the processes started
    threads, set_threads = torch.get_num_threads(), torch.set_num_threads
    set_threads(1)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    before = _examples_files()
    try:
        yield tmp_path
    finally:
        set_threads(threads)
    assert _examples_files() == before, "an example wrote into examples/"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-stage network of one narrow block: about 1 s per 512x512 slice here."""
    import torch

    from meddenoise.checkpoint import save_checkpoint
    from meddenoise.models import build_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    return save_checkpoint(
        path,
        build_model("two_stage", depth=1, width=8, growth=4),
        normalization={"contract": "meddenoise.intensity", "mappings": {"ct": "ct"}},
        training={"steps": 1},
    )


def _serve(argv: tuple[str, ...], workdir: Path) -> tuple[int, str]:
    """Start the node, answer a C-ECHO on its logged port, stop it with SIGTERM."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    node = subprocess.Popen(
        [str(MEDDENOISE), *argv[1:]], cwd=workdir, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in node.stderr], daemon=True)  # type: ignore[union-attr]
    reader.start()
    log = []
    try:
        deadline = time.monotonic() + 120
        port = None
        while port is None and time.monotonic() < deadline:
            try:
                log.append(lines.get(timeout=1))
            except queue.Empty:
                assert node.poll() is None, "".join(log)
                continue
            if match := re.search(r"listening on 127\.0\.0\.1:(\d+)", log[-1]):
                port = int(match.group(1))
        assert port is not None, "".join(log)
        ae = AE(ae_title="ECHOSCU")
        ae.add_requested_context(Verification)
        assoc = ae.associate(
            "127.0.0.1", port, ae_title=_option(argv, "--ae-title") or "MEDDENOISE"
        )
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0
        assoc.release()
        node.send_signal(signal.SIGTERM)
        node.wait(timeout=60)
    finally:
        node.kill()
        reader.join(timeout=10)
    while not lines.empty():
        log.append(lines.get())
    storage = _option(argv, "--storage")
    assert storage is None or (workdir / storage).is_dir()
    return node.returncode, "".join(log)


def _run(command: Command, argv: tuple[str, ...], workdir: Path) -> None:
    if command.kind == "tool":
        done = subprocess.run(
            [sys.executable, *argv[1:]], cwd=workdir, capture_output=True, text=True, timeout=600
        )
        code, output = done.returncode, done.stdout + done.stderr
    elif argv[1] == "serve":
        code, output = _serve(argv, workdir)
    else:
        result = CliRunner().invoke(main, list(argv[1:]))
        code, output = result.exit_code, result.output
        if code not in (0, 1, 2) and result.exception is not None:
            raise result.exception
    assert code == command.exit_code, f"{command.text}\n-> exit code {code}\n{output}"
    if code == 0:
        _check_outputs(argv if command.kind != "tool" else (*argv[:1], *argv[2:]), output)
    else:
        assert output.strip().splitlines()[-1].startswith("Error: "), output


def _run_block(block: Block, workdir: Path, tiny: Path | None) -> None:
    commands = _commands(block)
    if all(c.kind == "install" for c in commands):
        assert block.section == "Install"
        pytest.skip("installation needs the network (pip)")
    for command in commands:
        assert command.kind in ("meddenoise", "tool"), f"not a runnable example: {command.text}"
        argv = command.argv if tiny is None else _with_tiny_model(command.argv, tiny)
        _run(command, argv, workdir)


def _run_python(block: Block, workdir: Path, tiny: Path | None) -> None:
    code = block.code if tiny is None else _python_with_tiny_model(block.code, tiny)
    exec(compile(code, f"{DOC}:{block.line}", "exec"), {"__name__": "__usage__"})
    writers = {"denoise_file": 1, "denoise_series": 1, "denoise_folder": 1, "write_image": 1}
    writers["save_checkpoint"] = 0
    for node in ast.walk(ast.parse(block.code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            at = writers.get(node.func.id)
            if at is not None and isinstance(arg := node.args[at], ast.Constant):
                assert (workdir / arg.value).exists(), f"{node.func.id} wrote no {arg.value}"


# ---------------------------------------------------------------------------- the document


def test_every_command_has_a_section_and_a_synopsis():
    assert isinstance(main, click.Group)
    sections = {b.section for b in BLOCKS}
    described = {c.argv[1] for _, c in SYNOPSES if len(c.argv) > 1}
    for name in main.commands:
        assert f"meddenoise {name}" in sections, f"no section for meddenoise {name}"
        assert name in described, f"no synopsis of meddenoise {name}"
    assert "`meddenoise COMMAND --help`" in DOC.read_text()


def _opts(command: click.Command) -> list[list[str]]:
    return [p.opts + p.secondary_opts for p in command.params if isinstance(p, click.Option)]


@pytest.mark.parametrize(
    ("block", "command"), [pytest.param(b, c, id=c.argv[1]) for b, c in SYNOPSES if len(c.argv) > 1]
)
def test_a_synopsis_names_every_option_of_its_command(block, command):
    if command.argv[1] not in main.commands:  # `meddenoise [--version] [--help] COMMAND`
        assert "--version" in command.text
        return
    cli = main.commands[command.argv[1]]
    named = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", " ".join(command.argv)))
    known = {opt for opts in _opts(cli) for opt in opts}
    assert named - known == set(), f"{command.argv[1]}: not options of the command"
    missing = [opts for opts in _opts(cli) if not set(opts) & named and opts != ["-h", "--help"]]
    assert missing == [], f"{command.argv[1]}: options missing from the synopsis"


def _tool_options(subcommand: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "tools/remote_train.py", subcommand, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", done.stdout))


@pytest.mark.parametrize(
    ("block", "command"),
    [
        pytest.param(b, c, id=f"{b.id}-{n}")
        for b in BLOCKS
        if b.language in ("bash", "text")
        for n, c in enumerate(_commands(b))
        if c.kind in ("meddenoise", "tool") and not _is_synopsis(c)
    ],
)
def test_a_command_line_parses(block, command):
    """Every concrete command of the page, run or not, passes the command's parser."""
    if command.kind == "tool":
        assert set(a for a in command.argv if a.startswith("--")) <= _tool_options(command.argv[2])
        return
    cli = main.commands[command.argv[1]]
    with cli.make_context(command.argv[1], list(command.argv[2:])):
        pass


@pytest.mark.parametrize(
    ("block", "command"), [pytest.param(b, c, id=b.id) for b, c in PLACEHOLDER_COMMANDS]
)
def test_a_placeholder_is_not_run(block, command):
    reasons = [why for part, why in PLACEHOLDERS.items() if part in command.text]
    assert len(reasons) == 1, f"say why this placeholder is not run: {command.text}"
    pytest.skip(reasons[0])


# ---------------------------------------------------------------------------- the examples


def _bash_params() -> list:
    return [pytest.param(b, id=b.id) for b in BASH]


@pytest.mark.parametrize("block", _bash_params())
def test_bash_example_runs(block, workdir, tiny_model):
    _run_block(block, workdir, tiny_model if _uses_default_model(block) else None)


@pytest.mark.slow
@pytest.mark.parametrize(
    "block", [pytest.param(b, id=b.id) for b in BASH if _uses_default_model(b)]
)
def test_bash_example_runs_as_written_with_the_default_model(block, workdir):
    _run_block(block, workdir, None)


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in PYTHON])
def test_python_example_runs(block, workdir, tiny_model):
    _run_python(block, workdir, tiny_model if _uses_default_model(block) else None)


@pytest.mark.slow
@pytest.mark.parametrize(
    "block", [pytest.param(b, id=b.id) for b in PYTHON if _uses_default_model(b)]
)
def test_python_example_runs_as_written_with_the_default_model(block, workdir):
    _run_python(block, workdir, None)


def test_the_blocks_are_found():
    assert len(BASH) >= 12
    assert len(PYTHON) >= 3
    assert len(PLACEHOLDER_COMMANDS) >= 5
    assert {b.language for b in BLOCKS} == {"bash", "python", "text"}
