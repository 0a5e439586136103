"""Corpus directories: one input per file, named by its content's hash (as libFuzzer names
them), read in name order so every replay visits them in the same order."""

from __future__ import annotations

import hashlib
import pathlib

# Checked-in inputs, per harness: seeds (valid traffic) and regressions (crashes once found).
TESTS_FUZZ = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fuzz"
SEED_ROOT = TESTS_FUZZ / "corpus"
REGRESSION_ROOT = TESTS_FUZZ / "regressions"


def seed_dir(harness: str) -> pathlib.Path:
    return SEED_ROOT / harness


def regression_dir(harness: str) -> pathlib.Path:
    return REGRESSION_ROOT / harness


def read_inputs(*dirs: pathlib.Path) -> list[tuple[pathlib.Path, bytes]]:
    """Every file in these directories (missing ones count as empty), in name order."""
    found = []
    for directory in dirs:
        if directory.is_dir():
            found += [(p, p.read_bytes()) for p in sorted(directory.iterdir()) if p.is_file()
                      and not p.name.startswith(".")]
    return found


def write_input(directory: pathlib.Path, data: bytes, prefix: str = "") -> pathlib.Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (prefix + hashlib.sha1(data).hexdigest())
    path.write_bytes(data)
    return path
