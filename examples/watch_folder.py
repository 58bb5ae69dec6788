"""A hospital drop-folder pipeline: series land in an inbox, derived series leave by an outbox.

Usage::

    python examples/watch_folder.py ROOT [--model default] [--stable-seconds 30] [--once]

``ROOT/inbox/<name>/`` receives one DICOM series per sub-folder (from a PACS export, a
DICOM router or a scanner). Once a folder has not changed for ``--stable-seconds``, the
series is denoised into ``ROOT/outbox/<name>/`` (written atomically, so a consumer never
sees half a series) and the original moves to ``ROOT/done/<name>/``, or to
``ROOT/failed/<name>/`` with a ``reason.txt``. The model is loaded once. The log names
folders only: no patient data. ``--once`` processes what is stable now and exits.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

from meddenoise.api import LoadedModel, denoise_series, load_model
from meddenoise.errors import MeddenoiseError

log = logging.getLogger("watch_folder")


def newest_change(folder: Path) -> float:
    """Latest modification time of the folder or anything in it."""
    times = [folder.stat().st_mtime]
    times += [p.stat().st_mtime for p in folder.rglob("*")]
    return max(times)


def process_stable(root: Path, model: LoadedModel, stable_seconds: float) -> int:
    """Process every stable inbox folder; return how many were handled."""
    handled = 0
    for name in ("outbox", "done", "failed"):
        (root / name).mkdir(exist_ok=True)
    for folder in sorted(p for p in (root / "inbox").iterdir() if p.is_dir()):
        if time.time() - newest_change(folder) < stable_seconds:
            continue  # still arriving
        try:
            result = denoise_series(
                folder,
                root / "outbox" / folder.name,
                model=model,
                overwrite=True,  # type: ignore[arg-type]
            )
        except MeddenoiseError as exc:
            log.warning("%s: failed: %s", folder.name, exc)
            target = root / "failed" / folder.name
            shutil.move(folder, target)
            (target / "reason.txt").write_text(f"{exc}\n")
        else:
            log.info("%s: %d slices denoised in %.1f s", folder.name, result.slices, result.seconds)
            shutil.move(folder, root / "done" / folder.name)
        handled += 1
    return handled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--model", default="default")
    parser.add_argument("--stable-seconds", type=float, default=30.0)
    parser.add_argument("--poll-seconds", type=float, default=5.0)
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    (args.root / "inbox").mkdir(parents=True, exist_ok=True)
    model = load_model(args.model)
    while True:
        process_stable(args.root, model, args.stable_seconds)
        if args.once:
            return 0
        time.sleep(args.poll_seconds)


if __name__ == "__main__":
    sys.exit(main())
