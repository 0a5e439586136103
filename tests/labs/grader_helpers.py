"""Running `python -m labs` on the fixture lab (tests/labs/fixture_labs/01), and student
files to try it with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
FIXTURE_LABS = Path(__file__).resolve().parent / "fixture_labs"
REFERENCE = (FIXTURE_LABS / "01" / "reference" / "checksum.py").read_text()


def lab_command(*args: str, cwd: Path | str, labs_dir: Path | None = FIXTURE_LABS,
                timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m labs ARGS` in `cwd`, on the fixture labs (None: the real labs/)."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("NETSTACK_LAB", "PYTEST_"))}
    environment["PYTHONPATH"] = str(PROJECT)
    environment["NO_COLOR"] = "1"
    if labs_dir is not None:
        environment["NETSTACK_LABS_DIR"] = str(labs_dir)
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "labs", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout, check=False)


def without_traceback_of_the_grader(text: str) -> bool:
    return "INTERNALERROR" not in text and "labs/grader/" not in text and \
        "labs/cli.py" not in text


# Student versions of the fixture's checksum.py.
LOOPING = REFERENCE.replace("    data = bytes(data)\n", "    while True:\n        pass\n", 1)
CRASHING = REFERENCE.replace(
    "    return ~ones_complement_sum(data, initial) & 0xFFFF",
    "    return _invert(ones_complement_sum(data, initial))") + (
    "\n\ndef _invert(total):\n    return ~total & 0xFFFF // (total - total)\n")
CHATTY_AND_WRONG = REFERENCE.replace(
    "    return ~ones_complement_sum(data, initial) & 0xFFFF",
    '    print("hello from my checksum")\n    return 0x1234')
CHEATING = "from netstack.checksum import py_internet_checksum as internet_checksum  # noqa\n" \
    + REFERENCE
CHEATING_VIA_IMPORTLIB = "import importlib\n\nref = importlib.import_module('netstack.checksum')\n"
BROKEN_SYNTAX = REFERENCE + "\ndef oops(:\n    pass\n"
