"""The notebooks' .ipynb files are generated from their py:percent sources (jupytext).

`sync_notebooks` writes NN-name.ipynb for every notebooks/NN-name.py whose .ipynb is missing
or older; an .ipynb newer than its source is left alone (Jupyter with jupytext saves both,
so it is the same notebook). The root conftest calls it before collection, so
`pytest --nbmake` always runs what the sources say.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SOURCE_NAME = re.compile(r"^\d\d-[a-z0-9-]+\.py$")


def notebook_sources(directory: Path = NOTEBOOKS) -> list[Path]:
    return sorted(p for p in directory.glob("*.py") if SOURCE_NAME.match(p.name))


def sync_notebooks(directory: Path = NOTEBOOKS) -> list[Path]:
    """Write the .ipynb of every source that needs one; return the ones written."""
    import jupytext

    written = []
    for source in notebook_sources(directory):
        target = source.with_suffix(".ipynb")
        if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
            continue
        jupytext.write(jupytext.read(source), target, fmt="ipynb")
        written.append(target)
    return written
