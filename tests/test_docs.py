"""The docs name files and functions that exist: a rename that forgets a doc fails here.

What is checked (the conventions are written down in docs/WALKTHROUGH.md):

- Every backticked path `netstack/...` in docs/WALKTHROUGH.md, docs/ARCHITECTURE.md and
  README.md exists (a file, or a directory when it ends in "/").
- A backticked path followed by a backticked name, with at most a colon between them
  ("`netstack/errors.py`: `NetstackError`", "`netstack/mbuf.py` `Mbuf.prepend`"), names
  something defined in that file. Only the name's leading dotted identifier counts, so
  "`MonotonicClock().now()`" checks `MonotonicClock`.
- Each numbered step of the walkthrough starts with a run of backticked references: a path,
  the names defined in it, possibly another path and its names, up to the first other text.
  Every step has at least one, and each name is defined in the path before it.
- Every other `Class.member` the walkthrough mentions exists: some class of that name under
  netstack/ defines the member (in its body, or as `self.member = ...` in a method).
- The module map in the TCP package's docstring lists exactly the package's modules.
- (root) docs/walkthrough_run.py still produces the run the walkthrough shows.

"Defined in a file", read with ast: `name` is a top-level function, class or assignment;
`Class.name` is a function, property or class-level assignment in that class's body; a
longer `A.B.name` walks nested classes.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WALKTHROUGH = ROOT / "docs" / "WALKTHROUGH.md"
DOCS = [WALKTHROUGH, ROOT / "docs" / "ARCHITECTURE.md", ROOT / "README.md",
        ROOT / "docs" / "EXPERIMENTS.md"]
TCP_PACKAGE = ROOT / "netstack" / "stages" / "tcp"

SPAN = re.compile(r"`([^`\n]+)`")
PATH = re.compile(r"netstack/[\w/]*(?:\.py|/)")
NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
# A path span, then (after at most a colon and whitespace) the span that names something in it.
PATH_THEN_NAME = re.compile(r"`(netstack/[\w/]*\.py)`:?\s+`([A-Za-z_][^`\n]*)`")
STEP = re.compile(r"^(\d+)\. (.*)$")
# The run of references a step starts with: backticked spans, commas and whitespace.
REFERENCE_RUN = re.compile(r"(?:`[^`\n]+`[\s,]*)+")
CLASS_MEMBER = re.compile(r"[A-Z]\w*\.[A-Za-z_]\w*")
MODULE_MAP_LINE = re.compile(r"^\s+(\w+\.py)\s+\S")


# --- reading the code -----------------------------------------------------------------------

def _assigned_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _scope(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    """The names a module or class body defines: functions, classes, assignments, also
    inside its if/try blocks (`try: from native import f` / `except: f = py_f`)."""
    names: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.If | ast.Try):
            blocks = [node.body, node.orelse]
            if isinstance(node, ast.Try):
                blocks += [node.finalbody, *(h.body for h in node.handlers)]
            for block in blocks:
                names.update(_scope(block))
        for name in _assigned_names(node):
            names[name] = node
    return names


@cache
def _module_scope(path: Path) -> dict[str, ast.stmt]:
    return _scope(ast.parse(path.read_text(), filename=str(path)).body)


def is_defined(path: Path, dotted: str) -> bool:
    """Is `dotted` (`name`, `Class.name`, ...) defined in the Python file `path`?"""
    scope = _module_scope(path)
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        node = scope.get(part)
        if node is None:
            return False
        if i < len(parts) - 1:
            if not isinstance(node, ast.ClassDef):
                return False
            scope = _scope(node.body)
    return True


def _class_members(node: ast.ClassDef) -> set[str]:
    members = set(_scope(node.body))
    for child in ast.walk(node):
        if isinstance(child, ast.Assign | ast.AnnAssign):
            targets = child.targets if isinstance(child, ast.Assign) else [child.target]
            members |= {t.attr for t in targets if isinstance(t, ast.Attribute)
                        and isinstance(t.value, ast.Name) and t.value.id == "self"}
    return members


@cache
def all_classes() -> dict[str, list[set[str]]]:
    """Every class under netstack/ by name: the members of each class of that name."""
    classes: dict[str, list[set[str]]] = {}
    for path in sorted((ROOT / "netstack").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, []).append(_class_members(node))
    return classes


# --- reading the docs -----------------------------------------------------------------------

def path_references(text: str) -> list[str]:
    """Every backticked `netstack/...` path (a span may hold more than a path: take it)."""
    found = []
    for span in SPAN.findall(text):
        match = PATH.match(span)
        if match and match.end() == len(span):
            found.append(span)
    return found


def path_name_pairs(text: str) -> list[tuple[str, str]]:
    """(path, name) for every path span directly followed by a name span."""
    pairs = []
    for path, span in PATH_THEN_NAME.findall(text):
        name = NAME.match(span)
        if name is not None:
            pairs.append((path, name.group(0).rstrip(".")))
    return pairs


def walkthrough_steps(text: str) -> list[tuple[str, str]]:
    """(number, text) of each numbered step: its line and the indented lines after it."""
    steps: list[tuple[str, str]] = []
    lines = text.splitlines()
    in_code = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            in_code = not in_code
        match = None if in_code else STEP.match(line)
        if match is None:
            continue
        body = [match.group(2)]
        for following in lines[i + 1 :]:
            if not following.startswith("   ") or not following.strip():
                break
            body.append(following.strip())
        steps.append((match.group(1), "\n".join(body)))
    return steps


def step_references(step_text: str) -> list[tuple[str, str]]:
    """(path, name) for the references a step starts with. Raises ValueError when the
    step does not start with a path, or names something before any path."""
    run = REFERENCE_RUN.match(step_text)
    if run is None:
        raise ValueError("does not start with backticked references")
    refs: list[tuple[str, str]] = []
    current: str | None = None
    for span in SPAN.findall(run.group(0)):
        if path_references(f"`{span}`"):
            current = span
            continue
        if current is None:
            raise ValueError(f"`{span}` comes before any path")
        if NAME.fullmatch(span) is None:
            raise ValueError(f"`{span}` is not a name (function, Class or Class.method)")
        refs.append((current, span))
    if current is None:
        raise ValueError("names no file")
    return refs


def _problems_with(pairs: list[tuple[str, str]]) -> list[str]:
    problems = []
    for path, name in pairs:
        file = ROOT / path
        if not file.is_file():
            problems.append(f"{path}: no such file (for `{name}`)")
        elif not is_defined(file, name):
            problems.append(f"{path}: `{name}` is not defined there")
    return problems


# --- the tests ------------------------------------------------------------------------------

@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_path_a_doc_names_exists(doc: Path) -> None:
    missing = [p for p in path_references(doc.read_text()) if not (ROOT / p).exists()]
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_name_given_after_a_path_is_defined_in_that_file(doc: Path) -> None:
    problems = _problems_with(path_name_pairs(doc.read_text()))
    assert not problems, f"{doc.name}:\n" + "\n".join(problems)


def test_the_walkthrough_steps_are_numbered_in_order_and_each_names_its_code() -> None:
    steps = walkthrough_steps(WALKTHROUGH.read_text())
    assert len(steps) >= 20, "the walkthrough lost its steps"
    assert [int(n) for n, _ in steps] == list(range(1, len(steps) + 1))
    problems = []
    for number, text in steps:
        try:
            problems += [f"step {number}: {p}" for p in _problems_with(step_references(text))]
        except ValueError as exc:
            problems.append(f"step {number}: {exc}")
    assert not problems, "\n".join(problems)


def test_every_class_member_the_walkthrough_mentions_exists() -> None:
    text = re.sub(r"```.*?```", "", WALKTHROUGH.read_text(), flags=re.DOTALL)
    mentioned = {span for span in SPAN.findall(text) if CLASS_MEMBER.fullmatch(span)}
    mentioned.discard("Class.method")  # the convention's own placeholder
    assert len(mentioned) >= 20, "the walkthrough lost its references"
    classes = all_classes()
    missing = sorted(span for span in mentioned
                     if not any(span.split(".")[1] in members
                                for members in classes.get(span.split(".")[0], [])))
    assert not missing, f"no class under netstack/ defines {missing}"


def test_the_walkthrough_follows_the_segment_through_every_layer() -> None:
    """The files a segment must cross, each named by at least one step."""
    files = {path for _, text in walkthrough_steps(WALKTHROUGH.read_text())
             for path, _ in step_references(text)}
    crossed = {"netstack/engine/ports/base.py", "netstack/engine/loop.py", "netstack/stack.py",
               "netstack/stages/ethernet.py", "netstack/stages/ipv4.py",
               "netstack/stages/tcp/stage.py", "netstack/stages/tcp/segment_arrives.py",
               "netstack/stages/tcp/receiver.py", "netstack/api/tcp_socket.py",
               "netstack/stages/tcp/emit.py", "netstack/stages/tcp/output.py",
               "netstack/stages/arp.py"}
    assert crossed <= files, f"no step names {sorted(crossed - files)}"


def test_the_checker_catches_a_wrong_name(tmp_path: Path) -> None:
    """The checks above can fail: a made-up name, a method on the wrong class, a module
    attribute that is not a class, a step with no file."""
    assert is_defined(ROOT / "netstack/stack.py", "Stack.receive")
    assert is_defined(ROOT / "netstack/mbuf.py", "HEADROOM")
    assert not is_defined(ROOT / "netstack/stack.py", "Stack.no_such_method")
    assert not is_defined(ROOT / "netstack/stack.py", "StackConfig.receive")
    assert not is_defined(ROOT / "netstack/mbuf.py", "HEADROOM.real")
    text = "1. `netstack/stack.py` `Stack.receive`, `Stack.nope`: prose `netstack/x.py`"
    (_, step), = walkthrough_steps(text)
    assert step_references(step) == [("netstack/stack.py", "Stack.receive"),
                                     ("netstack/stack.py", "Stack.nope")]
    assert _problems_with(step_references(step)) == [
        "netstack/stack.py: `Stack.nope` is not defined there"]
    with pytest.raises(ValueError, match="before any path"):
        step_references("`Stack.receive`: no path first")
    assert path_name_pairs("`netstack/clock.py`: `MonotonicClock().now()` and") == [
        ("netstack/clock.py", "MonotonicClock")]


def tcp_module_map() -> list[str]:
    """The `name.py  description` lines of the TCP package docstring, in order."""
    docstring = ast.get_docstring(ast.parse((TCP_PACKAGE / "__init__.py").read_text())) or ""
    return [m.group(1) for line in docstring.splitlines() if (m := MODULE_MAP_LINE.match(line))]


def test_the_tcp_module_map_lists_exactly_the_package_modules() -> None:
    listed = tcp_module_map()
    modules = sorted(p.name for p in TCP_PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(listed) == len(set(listed)), f"listed twice: {listed}"
    assert sorted(listed) == modules, (
        f"missing from the map: {sorted(set(modules) - set(listed))}; "
        f"in the map but not in the package: {sorted(set(listed) - set(modules))}")


def test_the_tcp_module_map_is_read() -> None:
    """The check above reads a real map: it is found and parsed."""
    listed = tcp_module_map()
    assert "stage.py" in listed and "segment_arrives.py" in listed
    assert all((TCP_PACKAGE / name).is_file() for name in listed)


@pytest.mark.root
def test_the_walkthrough_run_still_echoes_the_line_and_captures_the_echo() -> None:
    """docs/walkthrough_run.py runs as the walkthrough says: the kernel gets its line back,
    the stack sent exactly SYN-ACK, echo and FIN, and the capture holds the echo carrying
    the ACK of the line (Ack=17)."""
    result = subprocess.run([sys.executable, str(ROOT / "docs" / "walkthrough_run.py")],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "client got b'hello, netstack\\n'" in result.stdout
    assert re.search(r"^\s+tcp\.tx\.segments 3$", result.stdout, re.MULTILINE), result.stdout
    if shutil.which("tshark"):
        arrow = "(?:→|->)"  # tshark's arrow depends on the locale
        echo = (rf"192\.0\.2\.2 {arrow} 192\.0\.2\.1 +TCP \d+ 7 {arrow} \d+ "
                r"\[PSH, ACK\] Seq=1 Ack=17 .*Len=16")
        assert re.search(echo, result.stdout), result.stdout
