"""The student's work folder: the files `netstack lab start` copies, the units they
implement, and the environment the tests' subprocess gets."""

from __future__ import annotations

import json
import os
import shutil

from labs.kit.labfile import PROJECT_DIR, Lab, LabError, all_labs
from labs.kit.stack import IMPL_ENV, MODULES_ENV

MARKER = ".netstack-lab.json"  # written by `start`: which lab a folder is for
WRITEUP = "WRITEUP.md"


class UsageError(LabError):
    """A bad request from the command line: printed as one line, exit status 2."""


def module_stem(file_name: str) -> str:
    return os.path.splitext(file_name)[0]


def check_work_folder(lab: Lab, folder: str) -> None:
    """A work folder for `lab` holds every file its starter has."""
    if not os.path.isdir(folder):
        raise UsageError(f"{folder}: no such folder")
    missing = [name for name in lab.starter if not os.path.exists(os.path.join(folder, name))]
    if missing:
        where = os.path.abspath(folder)
        raise UsageError(f"{where} is not a work folder for lab {lab.number}: {missing[0]} is "
                         f"missing (make one with: netstack lab start {lab.number} DIR)")


def labs_in_folder(lab: Lab, folder: str, all_student: bool) -> list[Lab]:
    """The labs whose units this run grades: `lab`, or with --impl all-student every lab
    whose starter files are all in the folder (the capstone runs them together)."""
    if not all_student:
        return [lab]
    found = [other for other in all_labs() if other.starter and all(
        os.path.exists(os.path.join(folder, name)) for name in other.starter)]
    return found or [lab]


def student_units(labs: list[Lab]) -> tuple[dict[str, str], dict[str, str]]:
    """NETSTACK_LAB_IMPL (unit -> "stem:Attr") and NETSTACK_LAB_MODULES (name -> stem)."""
    impl: dict[str, str] = {}
    modules: dict[str, str] = {}
    for lab in labs:
        impl.update(lab.units)
        modules.update({name: name for name in lab.modules})
    return impl, modules


def student_files(labs: list[Lab], folder: str) -> list[str]:
    """The student's Python files in the folder, as paths."""
    return [os.path.join(folder, name) for lab in labs for name in lab.starter
            if name.endswith(".py") and os.path.exists(os.path.join(folder, name))]


def test_environment(folder: str | None, labs: list[Lab]) -> dict[str, str]:
    """The environment variables that choose what is graded (none: the reference)."""
    env = {"PYTHONPATH": os.pathsep.join(p for p in (folder, PROJECT_DIR) if p)}
    if folder is not None:
        impl, modules = student_units(labs)
        env[IMPL_ENV] = json.dumps(impl)
        env[MODULES_ENV] = json.dumps(modules)
    return env


def impl_arguments(labs: list[Lab]) -> str:
    """LAB_IMPL_ARGS for the real-tool step: "--impl unit=stem:Attr ..."."""
    impl, _ = student_units(labs)
    return " ".join(f"--impl {unit}={path}" for unit, path in sorted(impl.items()))


def starter_source(lab: Lab) -> str:
    return os.path.join(lab.folder, "starter")


def start(lab: Lab, dest: str, force: bool = False) -> list[str]:
    """Copy the lab's starter and writeup template into `dest`; the names copied."""
    source = starter_source(lab)
    if not os.path.isdir(source):
        raise LabError(f"lab {lab.number} has no starter yet (python -m labs.kit.starter "
                       f"{lab.number} writes it)")
    copies = [(os.path.join(source, name), name) for name in sorted(os.listdir(source))
              if os.path.isfile(os.path.join(source, name))]
    writeup = os.path.join(lab.folder, WRITEUP)
    if os.path.exists(writeup):
        copies.append((writeup, WRITEUP))
    os.makedirs(dest, exist_ok=True)
    existing = [name for _, name in copies if os.path.exists(os.path.join(dest, name))]
    if existing and not force:
        raise UsageError(f"{os.path.join(dest, existing[0])} already exists: it may be your "
                         "work (use --force to overwrite the starter files)")
    for path, name in copies:
        shutil.copyfile(path, os.path.join(dest, name))
    with open(os.path.join(dest, MARKER), "w", encoding="utf-8") as f:
        json.dump({"lab": lab.number, "title": lab.title, "project": PROJECT_DIR}, f, indent=2)
        f.write("\n")
    return [name for _, name in copies]
