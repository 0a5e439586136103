"""A sweep's grid: which fields of a scenario vary, and the values each one takes.

A grid maps a dotted path into the scenario to a list of values:

    {"flows.0.cc": ["newreno", "cubic"], "links.bottleneck.up.queue.packets": [50, 100]}

A number in the path indexes a list ("flows.0"), "*" means every element of a list that has
the rest of the path ("flows.*.cc": every flow that has a congestion control), and a few
short aliases stand for common paths ("cc" is "flows.*.cc"). A path must already exist in
the base scenario: the base is complete (every default filled in), so a path that is not
there is a typo, and it is reported by name instead of silently adding a field.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from netstack.errors import ConfigError
from netstack.sim.scenario_hash import canonical_json

ALIASES = {"cc": "flows.*.cc"}  # the parameter most sweeps vary, for every TCP flow at once


def resolve_alias(key: str) -> str:
    return ALIASES.get(key, key)


def _targets(scenario: Any, parts: list[str], where: str) -> list[tuple[Any, str | int]]:
    """Every (container, key) the path names; ConfigError if it names nothing."""
    found: list[tuple[Any, str | int]] = []

    def walk(node: Any, i: int) -> None:
        part, last = parts[i], i == len(parts) - 1
        if isinstance(node, list) and part == "*":
            for element in node:
                walk_into(element, i + 1)
            return
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            key: str | int = int(part)
        elif isinstance(node, dict) and part in node:
            key = part
        else:
            return
        if last:
            found.append((node, key))
        else:
            walk(node[key], i + 1)

    def walk_into(node: Any, i: int) -> None:
        if i == len(parts):  # "a.*" names the elements themselves: not a field to set
            return
        walk(node, i)

    walk(scenario, 0)
    if not found:
        raise ConfigError(f"--grid {where}: no such field in the base scenario")
    return found


def check_path(scenario: dict, key: str) -> None:
    _targets(scenario, resolve_alias(key).split("."), key)


def set_path(scenario: dict, key: str, value: Any) -> None:
    """Set every field the path names (see the module docstring) to `value`, in place."""
    for container, field in _targets(scenario, resolve_alias(key).split("."), key):
        container[field] = copy.deepcopy(value)


def parse_value(text: str) -> Any:
    """A grid value from the command line: an int, a float, a bool, or else the text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            value = convert(text)
        except ValueError:
            continue
        if math.isfinite(value):  # "inf" and "nan" stay text: JSON has no such numbers
            return value
    return text.strip()


def parse_grid_option(text: str) -> tuple[str, list[Any]]:
    """"PATH=V1,V2,..." -> (PATH, [V1, V2, ...])."""
    key, sep, values = text.partition("=")
    key = key.strip()
    items = [v for v in values.split(",")] if values.strip() else []
    if not sep or not key or not items or any(not v.strip() for v in items):
        raise ConfigError(f"--grid {text!r}: expected PATH=VALUE,VALUE,... "
                          "(e.g. flows.0.cc=newreno,cubic)")
    return key, [parse_value(v) for v in items]


def check_grid(grid: Any) -> dict[str, list[Any]]:
    """The grid as a plain dict of lists; ConfigError names the first bad entry."""
    if not isinstance(grid, dict):
        raise ConfigError("grid: a table of PATH = [values]")
    checked: dict[str, list[Any]] = {}
    for key, values in grid.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"grid: {key!r} is not a dotted path")
        if key == "seed":
            raise ConfigError("grid: seed is not a grid parameter; give the seeds instead (--seeds)")
        if not isinstance(values, list | tuple) or not values:
            raise ConfigError(f"grid {key}: a non-empty list of values")
        texts = [canonical_json(v) for v in values]
        if len(set(texts)) != len(texts):
            raise ConfigError(f"grid {key}: a value is listed twice")
        checked[key] = list(values)
    return checked


def check_seeds(seeds: Any) -> list[int]:
    """A count n means seeds 1..n; a list is taken as it is."""
    if isinstance(seeds, bool):
        raise ConfigError("seeds: a count or a list of integers")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"seeds: at least 1, got {seeds}")
        return list(range(1, seeds + 1))
    if not isinstance(seeds, list | tuple) or not seeds:
        raise ConfigError("seeds: a count or a non-empty list of integers")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"seeds: {seed!r} is not an integer")
    if len(set(seeds)) != len(seeds):
        raise ConfigError("seeds: a seed is listed twice")
    return list(seeds)


def parse_seeds_option(text: str) -> list[int]:
    """"3" (seeds 1, 2, 3) or "1,5,9"."""
    try:
        if "," not in text:
            return check_seeds(int(text))
        return check_seeds([int(s) for s in text.split(",")])
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: a count (3) or a list of integers (1,2,3)") from None


def short_labels(keys: list[str]) -> dict[str, str]:
    """The shortest dotted suffix that tells each key apart ("flows.0.cc" -> "cc"), for
    progress lines and tables."""
    labels = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            label = ".".join(parts[-n:])
            if not any(other != key and other.split(".")[-n:] == parts[-n:] for other in keys):
                break
        labels[key] = label
    return labels
