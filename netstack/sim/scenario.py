"""Scenarios: what an experiment is, as data. Loaded from a preset, a TOML or JSON file, or
a dict; checked field by field; completed with every default; written canonically.

    name = "my-experiment"
    seed = 1
    duration = "30s"
    topology = { kind = "dumbbell", pairs = 1 }       # or "p2p", or "graph" (nodes, links)
    [links.bottleneck]                                # keys here apply to both directions,
    rate = "10mbps"                                   # `up` and `down` tables override them
    delay = "2ms"
    queue = { kind = "droptail", packets = 100 }
    [[flows]]
    kind = "bulk"                                     # bulk | fetch | ping | onoff
    src = "s0"
    dst = "r0"
    cc = "cubic"

A point-to-point scenario may give its link as a mahimahi command line instead
(`mahimahi = "mm-delay 30 mm-link 12mbps.trace 12mbps.trace"`), uplink being a -> b.

`complete(raw)` returns the canonical scenario: every default filled in, every link as its
full LinkSpec, durations in seconds. A run's directory is named by its hash, so two ways of
writing the same experiment (10e6 or "10mbps") are one run.
"""

from __future__ import annotations

import copy
import json
import platform
import tomllib
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import netstack
from netstack.errors import ConfigError
from netstack.sim.link.spec import (
    LinkSpec,
    LossSpec,
    QueueSpec,
    RateSpec,
    link_spec_from_dict,
    parse_duration,
    positive_duration,
)
from netstack.sim.scenario_hash import canonical_json, scenario_hash
from netstack.stages.tcp.config import TcpConfig

TOP_LEVEL = {"name", "seed", "duration", "topology", "links", "mahimahi", "flows", "tcp", "mtu",
             "probes", "crn", "bottleneck", "description", "netstack_version",
             "python_version"}
PROBES = {"tcp_info": True, "pcap": True, "link_log": True, "queues": True}
ACCESS_DEFAULT: dict = {}  # dumbbell access links: no serializer, no delay, no queue limit
FLOW_KEYS = {
    "bulk": {"size": None, "duration": None, "cc": "newreno"},
    "onoff": {"on": 1.0, "off": 1.0, "cc": "newreno"},
    "fetch": {"response": 100_000, "interval": 1.0, "count": None, "cc": "newreno"},
    "ping": {"interval": 0.1, "size": 56},
}
LINK_FIELDS = tuple(f.name for f in fields(LinkSpec))
FLOW_COMMON = {"kind", "src", "dst", "start", "name", "port"}
DURATION_FIELDS = {"duration", "on", "off", "interval", "start"}


def load_scenario(name_or_path: str, overrides: dict[str, Any] | None = None) -> dict:
    """A preset by name, or a .toml/.json file; `overrides` maps dotted paths to values."""
    from netstack.sim.presets import PRESETS, preset

    path = Path(name_or_path)
    if path.suffix in (".toml", ".json") or path.exists():
        raw = read_scenario_file(path)
    elif preset(name_or_path) is not None:
        raw = preset(name_or_path)
    else:
        raise ConfigError(f"no preset or scenario file named {name_or_path!r} "
                          f"(presets: {', '.join(PRESETS)}; files end in .toml or .json)")
    for dotted, value in (overrides or {}).items():
        set_path(raw, dotted, value)
    return raw


def read_scenario_file(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read scenario {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix[1:].upper() or 'TOML'}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a scenario is a table of settings")
    data.setdefault("name", path.stem)
    return data


def parse_sets(items: list[str]) -> dict:
    """--set PATH=VALUE options as {path: value}; values are JSON when they parse as JSON."""
    overrides = {}
    for item in items:
        path, sep, text = item.partition("=")
        if not sep or not path:
            raise ConfigError(f"--set {item!r}: expected PATH=VALUE, e.g. flows.0.cc=cubic")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        overrides[path] = value
    return overrides


def set_path(scenario: dict, dotted: str, value: Any) -> None:
    """scenario["flows"][0]["cc"] = value, for dotted = "flows.0.cc"."""
    parts = dotted.split(".")
    target: Any = scenario
    for i, part in enumerate(parts[:-1]):
        if isinstance(target, list):
            if not part.isdigit() or int(part) >= len(target):
                raise ConfigError(f"{dotted}: no element {part} in {'.'.join(parts[:i]) or 'scenario'}")
            target = target[int(part)]
        elif isinstance(target, dict):
            target = target.setdefault(part, {})
        else:
            raise ConfigError(f"{dotted}: {'.'.join(parts[:i])} is not a table")
    last = parts[-1]
    if isinstance(target, list):
        if not last.isdigit() or int(last) >= len(target):
            raise ConfigError(f"{dotted}: no element {last}")
        target[int(last)] = value
    elif isinstance(target, dict):
        target[last] = value
    else:
        raise ConfigError(f"{dotted}: {'.'.join(parts[:-1])} is not a table")


# --- checking and completing ------------------------------------------------------------

def complete(raw: dict, base_dir: Path | None = None) -> dict:
    """The canonical scenario (see the module docstring); ConfigError names any bad field."""
    if not isinstance(raw, dict):
        raise ConfigError("a scenario is a table of settings")
    unknown = set(raw) - TOP_LEVEL
    if unknown:
        raise ConfigError(f"unknown scenario field {sorted(unknown)[0]!r} "
                          f"(fields: {', '.join(sorted(TOP_LEVEL - {'netstack_version', 'python_version'}))})")
    out: dict[str, Any] = {
        "name": str(raw.get("name", "experiment")),
        "seed": _integer(raw.get("seed", 1), "seed"),
        "duration": positive_duration(raw.get("duration", 10.0), "duration"),
        "crn": _boolean(raw.get("crn", False), "crn"),
        "netstack_version": netstack.__version__,
        "python_version": platform.python_version(),
    }
    if "description" in raw:
        out["description"] = str(raw["description"])
    out["topology"] = _topology(raw.get("topology", {"kind": "p2p"}))
    out["links"] = _links(raw, out["topology"], base_dir)
    out["bottleneck"] = str(raw.get("bottleneck", _default_bottleneck(out)))
    if out["bottleneck"] not in out["links"]:
        raise ConfigError(f"bottleneck: no link named {out['bottleneck']!r}")
    out["tcp"] = _tcp(raw.get("tcp", {}))
    out["mtu"] = _integer(raw.get("mtu", 1500), "mtu")
    if not 576 <= out["mtu"] <= 9000:
        raise ConfigError(f"mtu: 576..9000 bytes, got {out['mtu']}")
    probes = raw.get("probes", {})
    if not isinstance(probes, dict):
        raise ConfigError("probes: a table of true/false")
    for key in probes:
        if key not in PROBES:
            raise ConfigError(f"probes.{key}: unknown probe (probes: {', '.join(PROBES)})")
    out["probes"] = {key: _boolean(probes.get(key, default), f"probes.{key}")
                     for key, default in PROBES.items()}
    out["flows"] = _flows(raw.get("flows", []), _host_names(out), out["duration"])
    return out


def run_directory_name(scenario: dict) -> str:
    return scenario_hash(scenario)


def write_canonical(scenario: dict, path: Path) -> None:
    path.write_text(canonical_json(scenario) + "\n")


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: must be an integer, got {value!r}")
    return value


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: must be true or false, got {value!r}")
    return value


def _topology(topology: Any) -> dict:
    if isinstance(topology, str):
        topology = {"kind": topology}
    if not isinstance(topology, dict):
        raise ConfigError("topology: a table such as { kind = \"dumbbell\", pairs = 2 }")
    kind = topology.get("kind", "p2p")
    if kind in ("p2p", "point-to-point"):
        _only(topology, {"kind"}, "topology")
        return {"kind": "p2p"}
    if kind == "dumbbell":
        _only(topology, {"kind", "pairs"}, "topology")
        pairs = _integer(topology.get("pairs", 1), "topology.pairs")
        if not 1 <= pairs <= 100:
            raise ConfigError(f"topology.pairs: must be 1..100, got {pairs}")
        return {"kind": "dumbbell", "pairs": pairs}
    if kind == "graph":
        _only(topology, {"kind", "nodes"}, "topology")
        nodes = topology.get("nodes")
        if not isinstance(nodes, dict) or not nodes:
            raise ConfigError("topology.nodes: a table of nodes, e.g. { h1 = { kind = \"host\" } }")
        clean = {}
        for name, node in nodes.items():
            node = node if isinstance(node, dict) else {}
            _only(node, {"kind", "address"}, f"topology.nodes.{name}")
            kind_of = node.get("kind", "host")
            if kind_of not in ("host", "switch"):
                raise ConfigError(f"topology.nodes.{name}.kind: 'host' or 'switch', got {kind_of!r}")
            clean[name] = {"kind": kind_of, **({"address": str(node["address"])}
                                              if "address" in node else {})}
        return {"kind": "graph", "nodes": clean}
    raise ConfigError(f"topology.kind: 'p2p', 'dumbbell' or 'graph', got {kind!r}")


def _only(table: dict, allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown field (fields: {', '.join(sorted(allowed))})")


def _link_names(topology: dict, raw_links: dict) -> list[str]:
    if topology["kind"] == "p2p":
        return ["path"]
    if topology["kind"] == "dumbbell":
        pairs = topology["pairs"]
        return (["bottleneck"] + [f"s{i}" for i in range(pairs)] + [f"r{i}" for i in range(pairs)])
    return list(raw_links)


def _links(raw: dict, topology: dict, base_dir: Path | None) -> dict:
    raw_links = raw.get("links", {})
    if not isinstance(raw_links, dict):
        raise ConfigError("links: a table of links")
    names = _link_names(topology, raw_links)
    allowed = set(names) | ({"access"} if topology["kind"] == "dumbbell" else set())
    for name in raw_links:
        if name not in allowed:
            raise ConfigError(f"links.{name}: no such link in a {topology['kind']} topology "
                              f"(links: {', '.join(sorted(allowed))})")
    mahimahi = raw.get("mahimahi")
    links: dict[str, dict] = {}
    if mahimahi is not None:
        if topology["kind"] != "p2p":
            raise ConfigError("mahimahi: a mahimahi command line describes a p2p topology")
        if "path" in raw_links:
            raise ConfigError("mahimahi: give the link either as links.path or as mahimahi, not both")
        from netstack.sim.mahimahi.command import parse_mm_command

        setup = parse_mm_command(mahimahi, base_dir=base_dir)
        links["path"] = {"a": "a", "b": "b", "up": asdict(setup.uplink),
                         "down": asdict(setup.downlink)}
        return links
    for name in names:
        entry = raw_links.get(name)
        if entry is None and topology["kind"] == "dumbbell" and name != "bottleneck":
            entry = raw_links.get("access", ACCESS_DEFAULT)
        if entry is None:
            raise ConfigError(f"links.{name}: missing (every link needs at least a rate or a delay)")
        if not isinstance(entry, dict):
            raise ConfigError(f"links.{name}: a table of link settings")
        where = f"links.{name}"
        ends = {}
        if topology["kind"] == "graph":
            for end in ("a", "b"):
                if end not in entry:
                    raise ConfigError(f"{where}.{end}: missing (the node at that end)")
                if entry[end] not in topology["nodes"]:
                    raise ConfigError(f"{where}.{end}: no node named {entry[end]!r}")
                ends[end] = entry[end]
        shared = {k: v for k, v in entry.items() if k not in ("up", "down", "a", "b")}
        directions = {}
        for direction in ("up", "down"):
            own = entry.get(direction, {})
            if not isinstance(own, dict):
                raise ConfigError(f"{where}.{direction}: a table of link settings")
            merged = {**shared, **own}
            spec: LinkSpec = (spec_from_canonical(merged) if _is_canonical(merged) else
                              link_spec_from_dict(merged, f"{where}.{direction}",
                                                  base_dir=base_dir))
            directions[direction] = asdict(spec)
        links[name] = {**ends, **directions}
    return links


def _is_canonical(direction: dict) -> bool:
    """A direction as complete() writes it: every LinkSpec field, rate as a table."""
    return set(direction) == set(LINK_FIELDS) and isinstance(direction["rate"], dict)


def spec_from_canonical(direction: dict) -> LinkSpec:
    values = dict(direction)
    try:
        return LinkSpec(rate=RateSpec(**values.pop("rate")), queue=QueueSpec(**values.pop("queue")),
                        loss=LossSpec(**values.pop("loss")), **values)
    except TypeError as exc:
        raise ConfigError(f"bad link direction: {exc}") from None


def _default_bottleneck(scenario: dict) -> str:
    kind = scenario["topology"]["kind"]
    return {"p2p": "path", "dumbbell": "bottleneck"}.get(kind) or next(iter(scenario["links"]))


def _host_names(scenario: dict) -> list[str]:
    topology = scenario["topology"]
    if topology["kind"] == "p2p":
        return ["a", "b"]
    if topology["kind"] == "dumbbell":
        pairs = topology["pairs"]
        return [f"s{i}" for i in range(pairs)] + [f"r{i}" for i in range(pairs)]
    return [n for n, node in topology["nodes"].items() if node["kind"] == "host"]


def _tcp(tcp: Any) -> dict:
    if not isinstance(tcp, dict):
        raise ConfigError("tcp: a table of TCP settings (stages/tcp/config.py)")
    try:
        TcpConfig(**tcp)
    except TypeError as exc:
        raise ConfigError(f"tcp: {exc}".replace("__init__() ", "")) from None
    return dict(sorted(tcp.items()))


def _flows(flows: Any, hosts: list[str], duration: float) -> list[dict]:
    if not isinstance(flows, list):
        raise ConfigError("flows: a list of flows ([[flows]] tables in TOML)")
    done = []
    names = set()
    for i, flow in enumerate(flows):
        where = f"flows.{i}"
        if not isinstance(flow, dict):
            raise ConfigError(f"{where}: a table describing one flow")
        kind = flow.get("kind")
        if kind not in FLOW_KEYS:
            raise ConfigError(f"{where}.kind: one of {', '.join(FLOW_KEYS)}, got {kind!r}")
        _only(flow, FLOW_COMMON | set(FLOW_KEYS[kind]), where)
        out = {"kind": kind, "name": str(flow.get("name", f"{kind}{i}"))}
        if out["name"] in names:
            raise ConfigError(f"{where}.name: {out['name']!r} is used twice")
        names.add(out["name"])
        for end in ("src", "dst"):
            if end not in flow:
                raise ConfigError(f"{where}.{end}: missing (hosts: {', '.join(hosts)})")
            if flow[end] not in hosts:
                raise ConfigError(f"{where}.{end}: no host named {flow[end]!r} (hosts: {', '.join(hosts)})")
            out[end] = flow[end]
        if flow["src"] == flow["dst"]:
            raise ConfigError(f"{where}: src and dst are the same host")
        out["start"] = parse_duration(flow.get("start", 0.0), f"{where}.start")
        if out["start"] >= duration:
            raise ConfigError(f"{where}.start: {out['start']} s is not before the end of the run")
        if kind != "ping":
            out["port"] = _integer(flow.get("port", 5001 + i), f"{where}.port")
            if not 1 <= out["port"] <= 65535:
                raise ConfigError(f"{where}.port: 1..65535, got {out['port']}")
        for key, default in FLOW_KEYS[kind].items():
            value = flow.get(key, default)
            if value is None:
                out[key] = None
            elif key in DURATION_FIELDS:
                out[key] = parse_duration(value, f"{where}.{key}")
                if out[key] <= 0 and key != "off":
                    raise ConfigError(f"{where}.{key}: must be more than 0 s")
            elif key == "cc":
                from netstack.stages.tcp.congestion import ALGORITHMS

                if value not in ALGORITHMS:
                    raise ConfigError(f"{where}.cc: one of {', '.join(sorted(ALGORITHMS))}, got {value!r}")
                out[key] = value
            else:
                out[key] = _integer(value, f"{where}.{key}")
                if out[key] <= 0:
                    raise ConfigError(f"{where}.{key}: must be more than 0, got {value}")
        done.append(out)
    return done


def scenario_copy(scenario: dict) -> dict:
    return copy.deepcopy(scenario)
