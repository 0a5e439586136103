"""`netstack lab package N --gradescope`: the autograder zip Gradescope asks for.

Gradescope's format (https://gradescope-autograders.readthedocs.io/en/latest/specs/): a zip
with `setup.sh` and `run_autograder` at its root; it unpacks the zip into
/autograder/source, runs setup.sh once when it builds the image, then run_autograder for
each submission with the student's files in /autograder/submission, and reads
/autograder/results/results.json. Here run_autograder copies the lab's student files into
a fresh work folder and runs `python -m labs grade N` there: the same grader students run.

AUTOGRADER_ROOT (default /autograder) and AUTOGRADER_PYTHON let the scripts be tried
outside Gradescope (the grader's tests do).
"""

from __future__ import annotations

import os
import zipfile

from labs.kit.labfile import LABS_DIR, PROJECT_DIR, Lab, all_labs

TOP_FILES = ("pyproject.toml", "README.md")
TREES = ("netstack", "labs", "native")
SKIP_DIRS = {"__pycache__", ".lab-results", ".pytest_cache", "_build"}
SKIP_ENDINGS = (".pyc", ".so", ".o")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image: a Python
# 3.11+ virtual environment with netstack and the test tools in /autograder/venv.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    PYTHON="$candidate"; break
  fi
done
if [ -z "$PYTHON" ]; then
  apt-get install -y -q python3.11 python3.11-venv >/dev/null
  PYTHON=python3.11
fi
"$PYTHON" -m venv "$ROOT/venv" || { apt-get install -y -q python3-venv >/dev/null; "$PYTHON" -m venv "$ROOT/venv"; }
"$ROOT/venv/bin/pip" install -q -e "$ROOT/source" pytest pytest-timeout hypothesis scapy
# The C helpers are optional: without them the pure-Python paths are used.
(cd "$ROOT/source" && "$ROOT/venv/bin/python" native/build.py) >/dev/null 2>&1 ||
  echo "netstack's native module was not built: the pure-Python paths will be used"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission: the student's files for lab {number} go into a
# fresh work folder, `netstack lab grade {number}` grades them there and writes
# results/results.json. If the grader cannot (no such files...), a zero with its output.
set -u
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}}"
[ -x "$PYTHON" ] || PYTHON=python3
unset NETSTACK_LABS_DIR
export PYTHONPATH="$ROOT/source"
WORK="$ROOT/work"
RESULTS="$ROOT/results/results.json"
LOG="$(mktemp)"
rm -rf "$WORK" "$RESULTS" && mkdir -p "$WORK" "$ROOT/results"
# Students may upload their files alone or inside a folder: find each by name.
for name in {files}; do
  found="$(find "$ROOT/submission" -type f -name "$name" | head -n 1)"
  if [ -n "$found" ]; then cp "$found" "$WORK/$name"; fi
done
evidence="$(find "$ROOT/submission" -type d -name "evidence-{name}" | head -n 1)"
if [ -n "$evidence" ]; then cp -r "$evidence" "$WORK/evidence-{name}"; fi
cd "$WORK"
"$PYTHON" -m labs grade {number} --dir "$WORK" --results "$RESULTS" 2>&1 | tee "$LOG"
if [ ! -s "$RESULTS" ]; then
  "$PYTHON" -m labs.grader.results "$RESULTS" "$LOG"
fi
exit 0
"""


def student_file_names(lab: Lab) -> list[str]:
    return [*lab.starter, "WRITEUP.md"]


def _source_files() -> list[tuple[str, str]]:
    """(path on disk, name in the zip) of the project source the grader needs."""
    files = [(os.path.join(PROJECT_DIR, name), name) for name in TOP_FILES
             if os.path.exists(os.path.join(PROJECT_DIR, name))]
    lab_folders = {lab.folder for lab in all_labs()}
    for tree in TREES:
        for root, dirs, names in os.walk(os.path.join(PROJECT_DIR, tree)):
            # labs/NN folders come from LABS_DIR below, so that they are the ones graded
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith(
                "evidence") and not (tree == "labs" and d.isdigit()))
            for name in sorted(names):
                if not name.endswith(SKIP_ENDINGS):
                    path = os.path.join(root, name)
                    files.append((path, os.path.relpath(path, PROJECT_DIR)))
    # Every lab (the capstone grades several), from wherever the labs are (LABS_DIR).
    for folder in sorted(lab_folders):
        for root, dirs, names in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for name in sorted(names):
                if not name.endswith(SKIP_ENDINGS):
                    path = os.path.join(root, name)
                    files.append((path, os.path.join(
                        "labs", os.path.relpath(path, LABS_DIR))))
    return files


def _add_script(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.external_attr = 0o100755 << 16  # a regular file, executable
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


def build(lab: Lab, output: str) -> list[str]:
    """Write the zip; the names it holds."""
    files = " ".join(f'"{name}"' for name in student_file_names(lab))
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        _add_script(archive, "setup.sh", SETUP_SH)
        _add_script(archive, "run_autograder",
                    RUN_AUTOGRADER.format(number=lab.number, name=lab.name, files=files))
        for path, name in _source_files():
            archive.write(path, name)
        return archive.namelist()
