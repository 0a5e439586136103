"""Saving a figure for slides: the same file, byte for byte, every run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

FIGURES_ENV = "NETSTACK_FIGURES"


def save_figure(fig: Any, name: str, directory: str | Path | None = None) -> Path:
    """Write `fig` as `<directory>/<name>.png` and return the path. The directory is
    `$NETSTACK_FIGURES`, else `figures/` under the current directory (a notebook's own
    directory when Jupyter or nbmake runs it). No timestamp or version goes into the file, so
    a rerun with the same seed writes the same bytes."""
    folder = Path(directory or os.environ.get(FIGURES_ENV) or "figures")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    return path
