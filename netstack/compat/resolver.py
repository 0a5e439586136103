"""Names for programs run on netstack: what the patched `socket.getaddrinfo` and friends answer.

The kernel's resolver would ask DNS through the kernel's network, which is not the one the
program talks on. This one works the way a stub resolver does, over the stack itself:

1. a numeric address is its own answer (the fast path: no lookup, no allocation to speak of);
2. then /etc/hosts (read once, at the first lookup that needs it);
3. then DNS over netstack UDP, if a server was given (`netstack exec --dns ADDRESS`):
   an A query, 1 s per try, two tries.

A name none of these knows raises `socket.gaierror(EAI_NONAME)`, as glibc's does. Reverse
lookups (`gethostbyaddr`, `getfqdn`) ask PTR questions the same way; `getfqdn(name)` gives
the name itself when no answer comes within 1 s, so it never stalls a program for long.
"""

from __future__ import annotations

import socket as _stdlib_socket
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from netstack.wire.dns import TYPE_A, TYPE_PTR, DnsError, build_query, parse_reply, reverse_name

HOSTS_FILE = Path("/etc/hosts")
DNS_PORT = 53
TRY_TIMEOUT = 1.0
TRIES = 2
_TYPES_FOR_ANY = (_stdlib_socket.SOCK_STREAM, _stdlib_socket.SOCK_DGRAM, _stdlib_socket.SOCK_RAW)
_PROTO = {_stdlib_socket.SOCK_STREAM: _stdlib_socket.IPPROTO_TCP,
          _stdlib_socket.SOCK_DGRAM: _stdlib_socket.IPPROTO_UDP, _stdlib_socket.SOCK_RAW: 0}


def numeric(name: str) -> str | None:
    """The dotted quad if `name` is one (also "2130706433"-style forms are refused: only the
    four-part form glibc's AI_NUMERICHOST takes)."""
    try:
        return str(IPv4Address(name))
    except ValueError:
        return None


def read_hosts(path: Path = HOSTS_FILE) -> dict[str, str]:
    """name (lower case) -> first IPv4 address given for it in a hosts file."""
    table: dict[str, str] = {}
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return table
    for line in lines:
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and numeric(words[0]):
            for name in words[1:]:
                table.setdefault(name.lower(), words[0])
    return table


class Resolver:
    def __init__(self, host: Any = None, dns: str | None = None,
                 hosts_file: Path = HOSTS_FILE) -> None:
        self.host = host  # the netstack Host DNS questions leave from
        self.dns = dns  # the server's address, or None: no DNS, names come from hosts only
        self.hosts_file = hosts_file
        self._hosts: dict[str, str] | None = None
        self._cache: dict[tuple[str, int], list[str]] = {}
        seed_source = getattr(getattr(host, "stack", None), "random", None)
        self._ids = seed_source.generator("resolver") if seed_source is not None else None
        self._next_id = 1

    # --- forward --------------------------------------------------------------------------
    def addresses(self, name: str) -> list[str]:
        """Every IPv4 address of `name`, or gaierror(EAI_NONAME)."""
        found = numeric(name)
        if found:
            return [found]
        key = name.lower().rstrip(".")
        if self._hosts is None:
            self._hosts = read_hosts(self.hosts_file)
        if key in self._hosts:
            return [self._hosts[key]]
        answer = self._ask(key, TYPE_A)
        if not answer:
            raise _stdlib_socket.gaierror(_stdlib_socket.EAI_NONAME,
                                          "Name or service not known")
        return answer

    def to_ipv4(self, name: str) -> str:
        return self.addresses(name)[0]

    def getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0,
                    proto: int = 0, flags: int = 0) -> list[tuple]:
        if family not in (0, _stdlib_socket.AF_INET):
            raise _stdlib_socket.gaierror(_stdlib_socket.EAI_FAMILY,
                                          "ai_family not supported (netstack is IPv4 only)")
        if isinstance(host, bytes):
            host = host.decode("idna")
        if host is None:
            addresses = ["0.0.0.0" if flags & _stdlib_socket.AI_PASSIVE else "127.0.0.1"]
        elif flags & _stdlib_socket.AI_NUMERICHOST:
            if not numeric(host):
                raise _stdlib_socket.gaierror(_stdlib_socket.EAI_NONAME,
                                              "Name or service not known")
            addresses = [numeric(host)]  # type: ignore[list-item]
        else:
            addresses = self.addresses(host)
        number = _port_number(port, type)
        types = (type,) if type else _TYPES_FOR_ANY
        return [(_stdlib_socket.AF_INET, _stdlib_socket.SocketKind(kind),
                 proto or _PROTO.get(kind, 0), "", (address, number))
                for address in addresses for kind in types]

    # --- reverse --------------------------------------------------------------------------
    def name_of(self, address: str) -> str | None:
        """The PTR name of `address` (hosts file first), or None."""
        if self._hosts is None:
            self._hosts = read_hosts(self.hosts_file)
        for name, known in self._hosts.items():
            if known == address:
                return name
        names = self._ask(reverse_name(address), TYPE_PTR, tries=1)  # getfqdn: at most 1 s
        return names[0] if names else None

    def getfqdn(self, name: str = "") -> str:
        name = name.strip()
        if not name or name in ("0.0.0.0", "::"):
            name = _stdlib_socket.gethostname()
        try:
            address = self.to_ipv4(name)
        except OSError:
            return name
        return self.name_of(address) or name

    # --- DNS over the stack ---------------------------------------------------------------
    def _ask(self, name: str, qtype: int, tries: int = TRIES) -> list[str]:
        if self.dns is None or self.host is None:
            return []
        key = (name, qtype)
        if key in self._cache:
            return self._cache[key]
        sock = self.host.socket(_stdlib_socket.AF_INET, _stdlib_socket.SOCK_DGRAM)
        try:
            sock.settimeout(TRY_TIMEOUT)
            for _ in range(tries):
                query_id = self._query_id()
                try:
                    sock.sendto(build_query(query_id, name, qtype), (self.dns, DNS_PORT))
                    while True:
                        reply, _peer = sock.recvfrom(4096)
                        try:
                            answer = parse_reply(reply, query_id)
                        except DnsError:
                            continue  # not ours, or broken: keep waiting for ours
                        found = answer.addresses if qtype == TYPE_A else answer.names
                        self._cache[key] = found
                        return found
                except TimeoutError:
                    continue
                except DnsError:
                    return []  # a name that cannot be asked (an empty label...)
        finally:
            sock.close()
        return []

    def _query_id(self) -> int:
        if self._ids is not None:
            return self._ids.randrange(1, 0x10000)
        self._next_id = self._next_id % 0xFFFF + 1
        return self._next_id


def _port_number(port: Any, type: int) -> int:
    if port is None:
        return 0
    if isinstance(port, int):
        return port
    text = port.decode() if isinstance(port, bytes) else str(port)
    if text.isdigit():
        return int(text)
    try:
        return _stdlib_socket.getservbyname(text, "udp" if type == _stdlib_socket.SOCK_DGRAM
                                            else "tcp")
    except OSError:
        raise _stdlib_socket.gaierror(_stdlib_socket.EAI_SERVICE,
                                      "Servname not supported for ai_socktype") from None


# The resolver patch_all installs; without one, only numeric addresses work.
current: Resolver | None = None


def to_ipv4(name: str) -> str:
    found = numeric(name)
    if found:
        return found
    if current is None:
        raise _stdlib_socket.gaierror(_stdlib_socket.EAI_NONAME, "Name or service not known")
    return current.to_ipv4(name)
