"""Write docs/api.md, the Python API reference, from the docstrings of the public modules.

Usage::

    python tools/api_reference.py            # rewrite docs/api.md
    python tools/api_reference.py --check    # exit 1 if docs/api.md is out of date

Each public module's ``__all__`` is listed in order with its signature and numpydoc
docstring; section titles (Parameters, Returns...) become bold labels and the rest is
kept as text. The test suite runs ``--check``, so the reference cannot drift from the
code.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "docs" / "api.md"

#: Modules documented, in order: what scripts and pipelines import.
MODULES = (
    "meddenoise",
    "meddenoise.api",
    "meddenoise.batch",
    "meddenoise.io",
    "meddenoise.image",
    "meddenoise.noise",
    "meddenoise.metrics",
    "meddenoise.checkpoint",
    "meddenoise.models",
    "meddenoise.errors",
    "meddenoise.node",
    "meddenoise.report",
)

_SECTION = re.compile(r"^(\s*)([A-Z][A-Za-z ]+)\n\1-{3,}$", re.M)


def _summary(obj: Any) -> tuple[str, str]:
    doc = inspect.getdoc(obj) or ""
    first, _, rest = doc.partition("\n\n")
    return " ".join(first.split()), rest.strip()


def _body(text: str) -> str:
    """Numpydoc sections as bold labels, each followed by its text in a block."""
    if not text:
        return ""
    parts = _SECTION.split(text)
    out = []
    head = parts[0].strip()
    if head:
        out.append(head)
    for index in range(1, len(parts), 3):
        title, content = parts[index + 1], parts[index + 2].strip("\n")
        if title == "Examples":
            out.append(f"**{title}**\n\n```python\n{_dedent(content)}\n```")
        else:
            out.append(f"**{title}**\n\n```text\n{_dedent(content)}\n```")
    return "\n\n".join(out)


def _dedent(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def _signature(obj: Any) -> str:
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""
    return re.sub(r" at 0x[0-9a-f]+", "", sig)


def _kind(obj: Any) -> str:
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return "data"


def _member(module: ModuleType, name: str) -> str:
    obj = getattr(module, name)
    kind = _kind(obj)
    summary, rest = _summary(obj) if kind != "data" else ("", "")
    title = f"### `{module.__name__}.{name}`"
    lines = [title, ""]
    if kind != "data":
        lines += [
            f"```python\n{'class ' if kind == 'class' else ''}{name}{_signature(obj)}\n```",
            "",
        ]
    else:
        lines += [f"`{type(obj).__name__}`", ""]
    if summary:
        lines += [summary, ""]
    body = _body(rest)
    if body:
        lines += [body, ""]
    return "\n".join(lines)


def _public(module: ModuleType) -> list[str]:
    """``__all__``, or the classes and functions the module defines itself."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module.__name__
    ]


def _index(package: ModuleType) -> str:
    """List the names the package re-exports, each pointing at where it is documented."""
    lines = ["Exported at the top level (`import meddenoise`), documented below:", ""]
    for name in package.__all__:
        obj = getattr(package, name)
        home = getattr(obj, "__module__", None)
        if name == "__version__" or home is None:
            continue
        lines.append(f"- `meddenoise.{name}`: see `{home}.{name}`")
    return "\n".join(lines)


def render() -> str:
    """Return the whole reference as Markdown."""
    out = [
        "# Python API reference",
        "",
        "Generated from the docstrings by `python tools/api_reference.py`; do not edit by",
        "hand. Usage with examples: [usage.md](usage.md#python-api).",
        "",
    ]
    for name in MODULES:
        module = importlib.import_module(name)
        summary, _ = _summary(module)
        out += [f"## `{name}`", "", summary, ""]
        if name == "meddenoise":
            out += [_index(module), ""]
            continue
        for member in _public(module):
            if member.startswith("_"):
                continue
            out.append(_member(module, member))
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/api.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date: run python tools/api_reference.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
