"""``python -m meddenoise.node``: the ``meddenoise serve`` command on its own."""

from __future__ import annotations

from meddenoise.node.command import main

if __name__ == "__main__":  # pragma: no cover
    main()
