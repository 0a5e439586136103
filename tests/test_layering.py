"""The layering a reader can trust, enforced: nothing imports upward, and no module imports
(even for typing only) a module that imports it back.

    core (errors, counters, clock, native, checksum, mbuf, timers, trace, seeding)
      -> wire -> stages -> stack (stack, units) -> engine -> testing, api
      -> services, bench, sim, ctl, compat, netns, fuzz -> config, demo, cli

Every `import` and `from ... import` counts, wherever it stands: at the top, inside a
function, or under `if TYPE_CHECKING:`. A stage that needs something from above depends on a
small Protocol describing it instead.
"""

from __future__ import annotations

import ast
import pathlib
from collections import defaultdict

import netstack

PACKAGE = pathlib.Path(netstack.__file__).parent

# (module prefix, layer): the longest matching prefix decides.
LAYERS = [
    ("netstack.errors", 0), ("netstack.counters", 0), ("netstack.clock", 0),
    ("netstack.native", 0), ("netstack.checksum", 0), ("netstack.mbuf", 0),
    ("netstack.timers", 0), ("netstack.trace", 0), ("netstack.seeding", 0),
    ("netstack.wire", 1),
    ("netstack.stages", 2),
    ("netstack.stack", 3), ("netstack.units", 3),
    ("netstack.engine", 4),
    ("netstack.testing", 5), ("netstack.api", 5),
    ("netstack.services", 6), ("netstack.bench", 6), ("netstack.sim", 6), ("netstack.ctl", 6),
    ("netstack.compat", 6), ("netstack.viz", 6), ("netstack.netns", 6),
    ("netstack.fuzz", 6),  # harnesses: drive the stack with the testing helpers, below the CLI
    ("netstack.config", 7), ("netstack.demo", 7), ("netstack.cli", 7), ("netstack.exec", 7),
    ("netstack.drill", 7),  # it sets tunables (ctl) on a simulated host (sim)
    ("netstack.services.iperf3.cli", 7), ("netstack.stack_options", 7),  # a command line: it reads run's options (config)
    ("netstack.__main__", 7), ("netstack", 8),
]
# Known exceptions, each with its reason. Keep this empty: a new entry needs a good reason.
ALLOWED: set[tuple[str, str]] = set()


def module_files() -> dict[str, pathlib.Path | None]:
    modules: dict[str, pathlib.Path | None] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("netstack",) + path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    for path in PACKAGE.rglob("*.so"):  # compiled modules exist, though we cannot read them
        parts = ("netstack",) + path.relative_to(PACKAGE).parent.parts
        modules[".".join(parts + (path.name.split(".")[0],))] = None
    return modules


def imported_modules(name: str, path: pathlib.Path, modules: dict) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from a.b import c` runs a.b (the package's __init__ too) and then a.b.c, if
            # that is a module: both count
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules and "." in target:
                target = target.rpartition(".")[0]
            if target in modules and target.startswith("netstack") and target != name:
                found.add(target)
    return found


def layer_of(module: str) -> int:
    if module == "netstack":
        return 0  # the root package's __init__ imports nothing: `from netstack import api` is fine
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return dict(LAYERS)[best]


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        if path is not None:
            graph[name] = imported_modules(name, path, modules)
    return graph


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_nothing_imports_upward() -> None:
    upward = [
        f"{source} (layer {layer_of(source)}) imports {target} (layer {layer_of(target)})"
        for source, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(source) and (source, target) not in ALLOWED
        # a package's __init__ may re-export its own modules
        and not target.startswith(source + ".")
    ]
    assert not upward, "upward imports:\n  " + "\n  ".join(upward)


def test_no_import_cycles() -> None:
    graph = import_graph()
    # A package importing its own submodules is fine; one of them importing the package
    # back (to reach a name its __init__ defines) is a cycle, and counts.
    pruned = {s: {t for t in ts if (s, t) not in ALLOWED} for s, ts in graph.items()}
    cycles = _strongly_connected(pruned)
    assert not cycles, "import cycles:\n  " + "\n  ".join(" <-> ".join(c) for c in cycles)


def test_the_root_package_imports_nothing() -> None:
    """What lets `from netstack import api` count as no import at all (layer_of)."""
    assert not import_graph()["netstack"]


def test_the_layer_table_knows_every_module() -> None:
    unplaced = [m for m in import_graph() if layer_of(m) == 8 and m != "netstack"]
    assert not unplaced, f"give these modules a layer in LAYERS: {unplaced}"
