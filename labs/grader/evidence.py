"""Offline verification of a real-tool step's evidence folder (no root, no network): the
files' sha256 values (labs.kit.real.load_evidence), then the lab's own real/verify.py."""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

from labs.kit.labfile import Lab
from labs.kit.real import load_evidence


def evidence_folder(lab: Lab, work_folder: str) -> str:
    return os.path.join(work_folder, f"evidence-{lab.name}")


def verify(lab: Lab, folder: str, student: bool = False) -> tuple[dict[str, Any], list[str]]:
    """The evidence record and the problems found; `student` also requires that the run
    used the student's code, not the reference."""
    if not os.path.isdir(folder):
        return {}, [f"{folder}: no such folder"]
    record, problems = load_evidence(folder)
    if record and record.get("lab") not in (None, lab.number):
        problems.append(f"this evidence is for lab {record.get('lab')}, not lab {lab.number}")
    if record and student and record.get("impl") != "student":
        problems.append("this evidence came from the reference (--reference), not your code: "
                        f"run `netstack lab real {lab.number}` in your work folder")
    script = os.path.join(lab.folder, "real", "verify.py")
    if record and os.path.exists(script):
        problems += _lab_verify(script, folder)
    return record, problems


def _lab_verify(script: str, folder: str) -> list[str]:
    spec = importlib.util.spec_from_file_location("lab_real_verify", script)
    if spec is None or spec.loader is None:
        return [f"{script}: cannot load it"]
    module = importlib.util.module_from_spec(spec)
    # Registered while it runs, as an import would be: dataclasses and pickling look the
    # module up in sys.modules.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        return [str(p) for p in module.verify(folder)]
    except Exception as exc:  # a broken evidence file must not crash the grader
        return [f"the lab's verify.py could not check this evidence: {type(exc).__name__}: {exc}"]
    finally:
        sys.modules.pop(spec.name, None)
