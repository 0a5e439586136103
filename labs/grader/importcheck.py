"""Refuse a student file that imports the reference it is meant to replace.

A lab grades the student's unit only if the unit is the student's: `from
netstack.stages.arp import ArpStage` in arp.py would pass every test with our code. The
check reads the files (ast, nothing is imported or run) and names the file, the line and
the module."""

from __future__ import annotations

import ast
import os

from labs.kit.labfile import Lab, LabError
from netstack.units import UNITS


def replaced_by(lab: Lab, file_name: str) -> set[str]:
    """The reference modules one student file replaces: the source its starter is made
    from, the references of the units it implements, and the [modules] it stands for."""
    stem = os.path.splitext(file_name)[0]
    modules = set()
    source = lab.starter.get(file_name, "")
    if source.endswith(".py"):
        modules.add(source[:-3].replace("/", ".").removesuffix(".__init__"))
    for unit, path in lab.units.items():
        if path.partition(":")[0] == stem and unit in UNITS:
            modules.add(UNITS[unit].reference.partition(":")[0])
    if stem in lab.modules:
        modules.add(lab.modules[stem])
    return modules


def imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for each import, `from a import b` giving both a and a.b, and each
    importlib.import_module("...") / __import__("...") with a literal name."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def forbidden_in(lab: Lab, file_name: str, starters: dict[str, str]) -> set[str]:
    """What one student file may not import: the references it replaces, and those the
    lab's other files replace (lab 8's connection.py must call the student's own
    segment_arrives), except an import its own starter makes on purpose (lab 6's
    receiver.py uses the reference Seq, which the stack keeps)."""
    others = set().union(*(replaced_by(lab, other) for other in lab.starter if other != file_name))
    try:
        intended = {module for _, module in imported_names(ast.parse(starters.get(file_name, "")))}
    except SyntaxError:
        intended = set()
    return replaced_by(lab, file_name) | (others - intended)


def refusals(folder: str, labs: list[Lab]) -> list[str]:
    """One line per import of a replaced reference (empty: the files may run)."""
    from labs.kit.starter import starter_files

    problems = []
    for lab in labs:
        try:
            starters = starter_files(lab) if len(lab.starter) > 1 else {}
        except LabError:  # a reference without markers: nothing is imported on purpose
            starters = {}
        for name in lab.starter:
            path = os.path.join(folder, name)
            if not name.endswith(".py") or not os.path.exists(path):
                continue
            forbidden = forbidden_in(lab, name, starters)
            try:
                with open(path, encoding="utf-8") as f:
                    tree = ast.parse(f.read(), path)
            except (SyntaxError, ValueError, UnicodeDecodeError):
                continue  # the run itself shows the syntax error, as Python reports it
            for line, module in imported_names(tree):
                if module in forbidden:
                    if module in replaced_by(lab, name):
                        problems.append(f"{name}:{line}: imports {module}, the reference this "
                                        "file replaces; write it yourself and remove that import")
                    else:
                        problems.append(f"{name}:{line}: imports {module}, a reference another "
                                        "file of this lab replaces; import your own file instead")
    return problems
