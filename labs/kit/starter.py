"""Starters: the reference code with its solution regions taken out.

A reference source marks what the student writes, nbgrader-style:

    def receive(self, frame, now):
        # BEGIN SOLUTION: look the target up; answer only for our own address
        ...the reference code...
        # END SOLUTION

The starter keeps everything else, and puts in each region's place the hint and a
`raise NotImplementedError`, indented as the region was. A comment line `# STARTER: TEXT`
makes the starter say TEXT instead of the line that follows it: e.g. an import of a
reference module that the student's own file of the same lab replaces. The starter is generated, so it
cannot drift from the reference: `python -m labs.kit.starter --check` (run by CI) fails if
a committed starter differs from what the reference gives now, and `python -m
labs.kit.starter` (no argument: every lab; or lab numbers) writes them.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from labs.kit.labfile import PROJECT_DIR, Lab, LabError, all_labs, load_lab

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?::\s*(?P<hint>.*))?$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
SUBSTITUTE = re.compile(r"^(?P<indent>\s*)# STARTER: (?P<text>.+)$")
DEF = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)|^\s*class\s+(\w+)")


class MarkerError(LabError):
    pass


def strip_solutions(source: str, lab: int, where: str) -> tuple[str, int]:
    """The starter text of one reference source, and how many regions it removed."""
    out: list[str] = []
    regions = 0
    inside: tuple[int, str, str] | None = None  # (line number, indent, hint)
    names: list[tuple[int, str]] = []  # (indent width, name) of the enclosing defs
    substitute = ""  # what a `# STARTER:` line puts in place of the next line
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        text = line.rstrip("\n")
        begin = BEGIN.match(text)
        if inside is None:
            if begin:
                inside = (number, begin["indent"], (begin["hint"] or "").strip())
                continue
            if END.match(text):
                raise MarkerError(f"{where}:{number}: END SOLUTION without a BEGIN")
            defined = DEF.match(text)
            if defined:
                width = len(text) - len(text.lstrip())
                names = [n for n in names if n[0] < width] + [(width, defined[1] or defined[2])]
            swap = SUBSTITUTE.match(text)
            if swap:
                substitute = f"{swap['indent']}{swap['text'].strip()}\n"
                continue
            out.append(substitute or line)
            substitute = ""
            continue
        if begin:
            raise MarkerError(f"{where}:{number}: BEGIN SOLUTION inside the region of line "
                              f"{inside[0]}")
        if END.match(text):
            _, indent, hint = inside
            width = len(indent)
            owner = ".".join(n for w, n in names if w < width) or "this part"
            if hint:
                out.append(f"{indent}# TODO(lab {lab}): {hint}\n")
            out.append(f'{indent}raise NotImplementedError("lab {lab}: {owner}")\n')
            regions += 1
            inside = None
    if inside is not None:
        raise MarkerError(f"{where}:{inside[0]}: BEGIN SOLUTION is never ended")
    return "".join(out), regions


def header(lab: Lab, reference: str) -> str:
    return (f"# Lab {lab.number} starter, generated from {reference} (python -m labs.kit.starter).\n"
            "# Fill in each NotImplementedError; labs/README.md says how to test your work.\n")


def starter_files(lab: Lab) -> dict[str, str]:
    """The student's file name -> its generated text, for one lab."""
    files = {}
    for name, reference in lab.starter.items():
        path = os.path.join(PROJECT_DIR, reference)
        try:
            with open(path, encoding="utf-8") as f:
                source = f.read()
        except OSError as exc:
            raise LabError(f"lab {lab.number}: starter {name}: cannot read {reference}: "
                           f"{exc.strerror}") from None
        text, regions = strip_solutions(source, lab.number, reference)
        if regions == 0:
            raise MarkerError(f"lab {lab.number}: {reference} has no BEGIN SOLUTION region")
        files[name] = header(lab, reference) + text
    return files


def starter_dir(lab: Lab) -> str:
    return os.path.join(lab.folder, "starter")


def write(lab: Lab) -> list[str]:
    os.makedirs(starter_dir(lab), exist_ok=True)
    written = []
    for name, text in starter_files(lab).items():
        path = os.path.join(starter_dir(lab), name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        written.append(os.path.relpath(path, PROJECT_DIR))
    return written


def differences(lab: Lab) -> list[str]:
    """One line per committed starter file that is missing or differs from the reference's."""
    problems = []
    for name, text in starter_files(lab).items():
        path = os.path.join(starter_dir(lab), name)
        rel = os.path.relpath(path, PROJECT_DIR)
        if not os.path.exists(path):
            problems.append(f"{rel} is missing")
            continue
        with open(path, encoding="utf-8") as f:
            if f.read() != text:
                problems.append(f"{rel} differs from what its reference generates")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labs.kit.starter",
                                     description="Generate the labs' starters from the "
                                                 "reference code (BEGIN/END SOLUTION regions).")
    parser.add_argument("labs", nargs="*", type=int, help="lab numbers (default: every lab)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; fail if a committed starter differs")
    args = parser.parse_args(argv)
    try:
        labs = [load_lab(n) for n in args.labs] if args.labs else all_labs()
        if args.check:
            problems = [p for lab in labs for p in differences(lab)]
            for p in problems:
                print(f"starter: {p} (regenerate: python -m labs.kit.starter)", file=sys.stderr)
            return 1 if problems else 0
        for lab in labs:
            for path in write(lab):
                print(f"wrote {path}")
    except LabError as exc:
        print(f"starter: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
