"""Settings for `netstack run`, from command-line flags and/or a TOML file.

In the spirit of F-Stack's config.ini, everything a flag sets can live in a file instead:

    # stack.toml
    port = "tap:ns0"
    ip = "192.0.2.2/24"
    gateway = "192.0.2.1"
    mac = "02:00:c0:00:02:02"          # optional: derived from the IP when absent
    mtu = 1500
    capture = "run.pcap"
    kni = "tap:kni0"
    kni_tcp_ports = [22]
    kni_udp_ports = [53, 5353]
    services = ["udp-echo:7", "daytime:13"]
    routes = { "198.51.100.0/24" = "192.0.2.1" }   # or ["198.51.100.0/24=192.0.2.1"]
    arp = { "192.0.2.1" = "02:00:c0:00:02:01" }    # or ["192.0.2.1=02:..."]
    engine = "python"                  # or "native": port I/O on a C thread (tap, afpacket)
    busy_poll = false                  # true: the loop never sleeps (lowest latency)
    eal = "--no-huge --no-pci --no-shconf -m 256 -l 0"   # dpdk: ports only: EAL arguments
    tcp_congestion = "cubic"           # TCP congestion control: newreno (default) or cubic
    seed = 7                           # one seed for every random choice: a repeatable run
    impl = { arp = "mylab.arp:ArpStage" }   # replacement units (netstack/units.py), or
                                       # ["arp=mylab.arp:ArpStage"]; see `netstack units`

Flags given on the command line override the file, key by key (and `--impl`, unit by unit:
the file's other replacements stay). Every problem is reported as a ConfigError with one line
that names the setting (an ImplError, for a replacement unit).
"""

import json
import shlex
import tomllib
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from netstack.engine.assemble import check_engine_choice
from netstack.errors import ConfigError
from netstack.services import SERVICES
from netstack.stages.tcp.congestion import ALGORITHMS as TCP_CONGESTION_ALGORITHMS
from netstack.units import ImplError, parse_impl_argument, resolve_units
from netstack.wire.ethernet import mac_from_ip  # noqa: F401 - it lived here; old callers import it

SETTINGS = (
    "port", "ip", "gateway", "mac", "mtu", "capture", "kni", "kni_tcp_ports", "kni_udp_ports",
    "services", "routes", "arp", "engine", "busy_poll", "eal", "tcp_congestion", "seed",
    "impl",
)
MIN_MTU = 576  # the smallest datagram every IPv4 host must accept (RFC 791)
MAX_MTU = 9000
# name -> default port, from the services' own registry (which imports nothing heavy).
KNOWN_SERVICES: dict[str, int] = {name: info.default_port for name, info in SERVICES.items()}
PORT_KINDS = ("tap", "afpacket", "pcap", "memory", "dpdk")


@dataclass(frozen=True)
class RunOptions:
    """Everything `netstack run` needs, validated and typed."""

    port: str
    address: IPv4Interface
    mac: bytes
    gateway: IPv4Address | None = None
    mtu: int = 1500
    capture: str | None = None
    kni: str | None = None
    kni_tcp_ports: frozenset[int] = frozenset()
    kni_udp_ports: frozenset[int] = frozenset()
    services: tuple[tuple[str, int], ...] = ()
    routes: tuple[tuple[IPv4Network, IPv4Address], ...] = ()
    static_arp: dict[IPv4Address, bytes] = field(default_factory=dict)
    engine: str = "python"
    busy_poll: bool = False
    eal: tuple[str, ...] | None = None  # dpdk: ports: EAL arguments (None: the defaults)
    tcp_congestion: str = "newreno"  # TcpConfig.congestion_control
    seed: int | None = None  # StackConfig.random_seed (None: fresh randomness every run)
    impl: dict[str, str] = field(default_factory=dict)  # unit name -> "package.module:Attr"

    def stack_config(self):
        """The StackConfig these options describe."""
        from netstack.stack import StackConfig
        from netstack.stages.tcp.config import TcpConfig

        return StackConfig(
            mac=self.mac, address=self.address, gateway=self.gateway, mtu=self.mtu,
            routes=self.routes, static_arp=dict(self.static_arp), kni=self.kni is not None,
            kni_tcp_ports=self.kni_tcp_ports, kni_udp_ports=self.kni_udp_ports,
            tcp=TcpConfig(congestion_control=self.tcp_congestion), random_seed=self.seed,
            impl=dict(self.impl),
        )

    def describe(self) -> str:
        """One `key = value` line per setting, in TOML form (what --print-config shows)."""
        lines = [
            f'port = "{self.port}"',
            f'ip = "{self.address}"',
            f'mac = "{format_mac(self.mac)}"',
            f"mtu = {self.mtu}",
        ]
        if self.engine != "python" or self.busy_poll:
            lines.append(f'engine = "{self.engine}"')
            lines.append(f"busy_poll = {'true' if self.busy_poll else 'false'}")
        if self.eal is not None:
            lines.append(f"eal = {json.dumps(shlex.join(self.eal))}")  # a TOML basic string
        if self.tcp_congestion != "newreno":
            lines.append(f'tcp_congestion = "{self.tcp_congestion}"')
        if self.seed is not None:
            lines.append(f"seed = {self.seed}")
        if self.gateway:
            lines.append(f'gateway = "{self.gateway}"')
        if self.capture:
            lines.append(f'capture = "{self.capture}"')
        if self.kni:
            lines.append(f'kni = "{self.kni}"')
            lines.append(f"kni_tcp_ports = {sorted(self.kni_tcp_ports)}")
            lines.append(f"kni_udp_ports = {sorted(self.kni_udp_ports)}")
        if self.services:
            lines.append("services = [" + ", ".join(f'"{n}:{p}"' for n, p in self.services) + "]")
        if self.routes:
            lines.append("routes = [" + ", ".join(f'"{n}={v}"' for n, v in self.routes) + "]")
        if self.static_arp:
            items = ", ".join(f'"{ip}={format_mac(m)}"' for ip, m in self.static_arp.items())
            lines.append(f"arp = [{items}]")
        if self.impl:
            items = ", ".join(f"{name} = {json.dumps(path)}" for name, path in self.impl.items())
            lines.append(f"impl = {{ {items} }}")
        return "\n".join(lines)


def load_toml(path: str) -> dict:
    """Read a config file into a dict of settings (keys may use '-' or '_')."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    settings = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in SETTINGS:
            raise ConfigError(f"config file {path}: unknown setting {key!r} (known: {', '.join(SETTINGS)})")
        settings[name] = value
    return settings


def build_run_options(flags: dict, file_settings: dict | None = None) -> RunOptions:
    """Merge flags over file settings (None in `flags` means "not given") and validate."""
    merged = dict(file_settings or {})
    merged.update({k: v for k, v in flags.items() if v is not None and k in SETTINGS})
    # Replacement units merge unit by unit: `--impl arp=...` keeps the file's other units.
    impl = {**parse_impl(file_settings.get("impl", {}) if file_settings else {}, "impl"),
            **parse_impl(flags.get("impl") or (), "--impl")}
    resolve_units(impl)  # each replacement imports and has its interface's members, or ImplError
    if not merged.get("port"):
        raise ConfigError("no port given (for example --port tap:ns0)")
    if not merged.get("ip"):
        raise ConfigError("no address given (for example --ip 192.0.2.2/24)")
    check_port_spec(str(merged["port"]), "port")
    if merged.get("kni"):
        check_port_spec(str(merged["kni"]), "kni", kinds=("tap",))
    address = parse_cidr(merged["ip"])
    mac = parse_mac_setting(merged["mac"]) if merged.get("mac") else mac_from_ip(address.ip)
    engine = str(merged.get("engine", "python"))
    check_engine_choice(str(merged["port"]), engine)
    busy_poll = merged.get("busy_poll", False)
    if not isinstance(busy_poll, bool):
        raise ConfigError(f"bad busy_poll {busy_poll!r}: expected true or false")
    eal = None
    if merged.get("eal") is not None:
        if not str(merged["port"]).startswith("dpdk:"):
            raise ConfigError("--eal applies only to dpdk: ports")
        try:
            eal = tuple(shlex.split(str(merged["eal"])))
        except ValueError as e:
            raise ConfigError(f"bad eal {merged['eal']!r}: {e}") from None
    mtu = _integer(merged.get("mtu", 1500), "mtu")
    tcp_congestion = str(merged.get("tcp_congestion", "newreno"))
    if tcp_congestion not in TCP_CONGESTION_ALGORITHMS:
        raise ConfigError(f"unknown tcp congestion control {tcp_congestion!r} "
                          f"(use {' or '.join(TCP_CONGESTION_ALGORITHMS)})")
    if not MIN_MTU <= mtu <= MAX_MTU:
        raise ConfigError(f"bad mtu {mtu}: expected {MIN_MTU} to {MAX_MTU}")
    return RunOptions(
        port=str(merged["port"]),
        address=address,
        mac=mac,
        gateway=parse_ip(merged["gateway"], "gateway") if merged.get("gateway") else None,
        mtu=mtu,
        capture=merged.get("capture") or None,
        kni=merged.get("kni") or None,
        kni_tcp_ports=parse_port_list(merged.get("kni_tcp_ports", ()), "kni-tcp-ports"),
        kni_udp_ports=parse_port_list(merged.get("kni_udp_ports", ()), "kni-udp-ports"),
        services=parse_services(merged.get("services", ())),
        routes=tuple(parse_route(r) for r in _pairs(merged.get("routes", ()))),
        static_arp=dict(parse_arp(a) for a in _pairs(merged.get("arp", ()))),
        engine=engine,
        busy_poll=busy_poll,
        eal=eal,
        tcp_congestion=tcp_congestion,
        seed=parse_seed(merged["seed"]) if merged.get("seed") is not None else None,
        impl=impl,
    )


def parse_impl(value, source: str = "impl") -> dict[str, str]:
    """Replacement units, from a TOML table {unit = "pkg.mod:Attr"}, a list of "unit=path"
    or the --impl flags (resolve_units then imports and checks them). `source` names where
    they came from in error messages: "impl" (the file) or "--impl"."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list | tuple):
        items = [parse_impl_argument(str(item), source) for item in value]
    else:
        raise ImplError(f"bad impl {value!r}: expected {{ unit = \"package.module:Attr\" }} "
                        f"or [\"unit=package.module:Attr\"]")
    impl = {}
    for name, path in items:
        if not isinstance(path, str) or not path.strip():
            raise ImplError(f"bad impl entry for {name!r}: expected \"package.module:Attr\"")
        impl[str(name)] = path.strip()
    return impl


def check_port_spec(spec: str, what: str, kinds: tuple[str, ...] = PORT_KINDS) -> None:
    """Catch a bad spec before anything is opened (open_port checks the rest)."""
    kind, sep, argument = spec.partition("?")[0].partition(":")
    if not sep or not argument:
        raise ConfigError(f"bad {what} spec {spec!r}: expected KIND:ARGUMENT, e.g. tap:ns0")
    if kind not in kinds:
        raise ConfigError(f"unknown {what} kind {kind!r} in {spec!r} (use {', '.join(k + ':' for k in kinds)})")


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def parse_mac_setting(text: str) -> bytes:
    parts = str(text).split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ConfigError(f"bad MAC address {text!r}: expected six hex pairs like 02:00:c0:00:02:02")
    try:
        mac = bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ConfigError(f"bad MAC address {text!r}: not hexadecimal") from None
    if mac[0] & 1:
        raise ConfigError(f"bad MAC address {text!r}: a multicast address cannot be a station's")
    return mac


def parse_cidr(text: str) -> IPv4Interface:
    if "/" not in str(text):
        raise ConfigError(f"bad address {text!r}: expected ADDRESS/PREFIX, e.g. 192.0.2.2/24")
    try:
        address = IPv4Interface(str(text))
    except ValueError as e:
        raise ConfigError(f"bad address {text!r}: {e}") from None
    if address.network.prefixlen == 32 or address.ip in (address.network.network_address,
                                                        address.network.broadcast_address):
        raise ConfigError(f"bad address {text!r}: not a usable host address on its network")
    return address


def parse_ip(text: str, what: str) -> IPv4Address:
    try:
        return IPv4Address(str(text))
    except ValueError:
        raise ConfigError(f"bad {what} {text!r}: expected an IPv4 address like 192.0.2.1") from None


def parse_port_list(value, what: str) -> frozenset[int]:
    items = value.split(",") if isinstance(value, str) else list(value)
    ports = set()
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        port = _integer(item, what)
        if not 0 < port < 65536:
            raise ConfigError(f"bad {what} entry {item!r}: expected a port from 1 to 65535")
        ports.add(port)
    return frozenset(ports)


def parse_services(items) -> tuple[tuple[str, int], ...]:
    """NAME[:PORT] entries; two services cannot share a port of the same protocol (udp-echo:7
    and tcp-echo:7 can run together; daytime takes its port on both UDP and TCP)."""
    if isinstance(items, str):
        items = [items]
    services = tuple(parse_service(item) for item in items)
    taken = [(proto, port) for name, port in services for proto, module in
             (("udp", SERVICES[name].module), ("tcp", SERVICES[name].tcp_module)) if module]
    for proto, port in taken:
        if taken.count((proto, port)) > 1:
            raise ConfigError(f"bad services: port {port} is given to more than one service")
    return services


def parse_service(text: str) -> tuple[str, int]:
    name, sep, port_text = str(text).partition(":")
    if name not in KNOWN_SERVICES:
        raise ConfigError(f"unknown service {name!r} (known: {', '.join(sorted(KNOWN_SERVICES))})")
    port = _integer(port_text, f"service {name} port") if sep else KNOWN_SERVICES[name]
    if not 0 < port < 65536:
        raise ConfigError(f"bad service {name} port {port}: expected a port from 1 to 65535")
    return name, port


def parse_seed(value) -> int:
    """An integer, from TOML or a flag's text; not a bool, a float or anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"bad seed {value!r}: expected an integer")


def parse_route(pair: tuple[str, str]) -> tuple[IPv4Network, IPv4Address]:
    network_text, via = pair
    try:
        network = IPv4Network(network_text)
    except ValueError as e:
        raise ConfigError(f"bad route {network_text}={via}: {e}") from None
    return network, parse_ip(via, f"route {network_text} next hop")


def parse_arp(pair: tuple[str, str]) -> tuple[IPv4Address, bytes]:
    ip_text, mac_text = pair
    return parse_ip(ip_text, "static ARP address"), parse_mac_setting(mac_text)


def _pairs(value) -> list[tuple[str, str]]:
    """Accept {"key" = "value"} tables and ["key=value"] lists alike."""
    if isinstance(value, dict):
        return [(str(k), str(v)) for k, v in value.items()]
    pairs = []
    for item in value:
        key, sep, val = str(item).partition("=")
        if not sep or not key or not val:
            raise ConfigError(f"bad entry {item!r}: expected KEY=VALUE, e.g. 198.51.100.0/24=192.0.2.1")
        pairs.append((key, val))
    return pairs


def _integer(value, what: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"bad {what} {value!r}: expected a number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"bad {what} {value!r}: expected a number") from None
