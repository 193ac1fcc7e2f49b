"""``python -m wskit``: the same command line as the ``wskit`` script."""

from __future__ import annotations

from wskit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
