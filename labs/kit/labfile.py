"""lab.toml: what a lab is made of. One file per lab folder (labs/NN/lab.toml):

    number = 2
    title = "ARP: the neighbour table and its stage"
    hours = 6                                  # the time budget the handout states
    [units]          # stack units graded through --impl: unit -> "module:Attr" in the
    arp = "arp:ArpStage"                       # student's folder (netstack units lists them)
    [modules]        # plain modules the tests load with labs.kit.student_module(NAME):
    webget = "labs.reference.webget"           # NAME -> the reference module
    [starter]        # the student's file -> the reference source it is generated from
    "arp.py" = "netstack/stages/arp.py"
    [grading]
    tests = ["tests"]                          # test paths inside the lab folder

`[units]` and `[modules]` may be empty; `[starter]` names every file `netstack lab start`
copies (generated, committed under labs/NN/starter/, checked by CI).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field

LABS_ENV = "NETSTACK_LABS_DIR"  # another folder of labs (the grader's own tests use one)
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT_DIR = os.path.dirname(_PACKAGE_DIR)
LABS_DIR = os.path.abspath(os.environ.get(LABS_ENV) or _PACKAGE_DIR)


class LabError(Exception):
    """A lab folder or lab.toml that cannot be used; the message is one line."""


@dataclass(frozen=True)
class Lab:
    number: int
    title: str
    hours: float
    folder: str
    units: dict[str, str] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)
    starter: dict[str, str] = field(default_factory=dict)
    tests: tuple[str, ...] = ("tests",)

    @property
    def name(self) -> str:
        return f"{self.number:02d}"


def lab_folder(number: int) -> str:
    return os.path.join(LABS_DIR, f"{number:02d}")


def load_lab(number: int) -> Lab:
    folder = lab_folder(number)
    path = os.path.join(folder, "lab.toml")
    if not os.path.exists(path):
        raise LabError(f"there is no lab {number} (no {os.path.relpath(path, PROJECT_DIR)})")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise LabError(f"{path}: {exc}") from None
    try:
        lab = Lab(number=int(data["number"]), title=str(data["title"]),
                  hours=float(data["hours"]), folder=folder,
                  units=dict(data.get("units", {})), modules=dict(data.get("modules", {})),
                  starter=dict(data.get("starter", {})),
                  tests=tuple(data.get("grading", {}).get("tests", ["tests"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise LabError(f"{path}: missing or bad field {exc}") from None
    if lab.number != number:
        raise LabError(f"{path}: says number = {lab.number}, but sits in folder {number:02d}")
    return lab


def all_labs() -> list[Lab]:
    numbers = sorted(int(n) for n in os.listdir(LABS_DIR)
                     if n.isdigit() and os.path.exists(os.path.join(LABS_DIR, n, "lab.toml")))
    return [load_lab(n) for n in numbers]
