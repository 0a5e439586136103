"""What the tools show, taken from a stack on its loop thread: plain dicts, ready for JSON.

Each function reads a `Stack` (never changes it) and returns what one tool prints, with the
keys Linux's own tools use in their JSON (`ss`'s columns, `ip -j`'s `ifname`, `addr_info`,
`dst`, `lladdr`...), so scripts written for Linux read netstack's answers too. The text
forms are in the tools; these are the data.
"""

from __future__ import annotations

import os
from typing import Any

from netstack.api.base_socket import live_sockets
from netstack.stack import Stack
from netstack.stages.tcp.info import tcp_info
from netstack.stages.tcp.state import TcpState
from netstack.wire.ethernet import format_mac

# ss's names for the states (its sstate_name table), by RFC 9293's.
SS_STATE = {
    TcpState.ESTABLISHED: "ESTAB", TcpState.SYN_SENT: "SYN-SENT",
    TcpState.SYN_RECEIVED: "SYN-RECV", TcpState.FIN_WAIT_1: "FIN-WAIT-1",
    TcpState.FIN_WAIT_2: "FIN-WAIT-2", TcpState.TIME_WAIT: "TIME-WAIT",
    TcpState.CLOSED: "UNCONN", TcpState.CLOSE_WAIT: "CLOSE-WAIT",
    TcpState.LAST_ACK: "LAST-ACK", TcpState.LISTEN: "LISTEN", TcpState.CLOSING: "CLOSING",
}
WILDCARD = "0.0.0.0"


def _address(endpoint: tuple[Any, int] | None) -> str:
    if endpoint is None:
        return f"{WILDCARD}:*"
    ip, port = endpoint
    return f"{ip or WILDCARD}:{port}"


def sockets(stack: Stack, now: float, tcp: bool = True, udp: bool = True,
            info: bool = False, memory: bool = False,
            owners: bool = False) -> list[dict[str, Any]]:
    """One row per socket, as `ss -tuna` lists them: netid, state, Recv-Q, Send-Q, local and
    peer address. Recv-Q is what the application has not read (for a listener: connections
    waiting in accept()); Send-Q is what is sent and unacknowledged or not yet sent (for a
    listener: the backlog). With `info`, each TCP connection carries its TCP_INFO; with
    `memory`, its buffers (`skmem`, ss -m); with `owners`, who opened it (`users`, ss -e)."""
    rows: list[dict[str, Any]] = []
    users = _users(stack) if owners else {}

    def add(row: dict[str, Any], thing: Any, skmem: dict[str, int]) -> None:
        if memory:
            row["skmem"] = skmem
            row["mbufs"] = getattr(thing, "mbufs_held", 0)  # payload is copied out today
        if id(thing) in users:
            row["users"] = [users[id(thing)]]
        rows.append(row)

    if tcp:
        for listener in stack.tcp.listeners():
            add({"netid": "tcp", "state": "LISTEN", "recv_q": len(listener.accept_queue),
                 "send_q": listener.backlog, "local": _address(listener.local),
                 "peer": f"{WILDCARD}:*"},
                listener, _skmem(0, listener.options.rcvbuf, 0, listener.options.sndbuf))
        for conn in stack.tcp.connections():
            row = {"netid": "tcp", "state": SS_STATE.get(conn.state, str(conn.state)),
                   "recv_q": len(conn.receiver.ready),
                   "send_q": conn.sender.flight_size + max(conn.sender.unsent(), 0),
                   "local": _address(conn.local), "peer": _address(conn.remote)}
            if info:
                row["tcp_info"] = tcp_info(conn, now).as_dict()
            # Held for the application: what it has not read, with what arrived out of
            # order (Linux counts its ofo queue in rmem_alloc too), and what it wrote that
            # is not acknowledged yet.
            held_in = len(conn.receiver.ready) + conn.receiver.out_of_order_bytes
            add(row, conn, _skmem(held_in, conn.options.rcvbuf, len(conn.send_stream.data),
                                  conn.options.sndbuf))
    if udp:
        for endpoint in stack.udp.endpoints():
            add({"netid": "udp", "state": "ESTAB" if endpoint.remote else "UNCONN",
                 "recv_q": endpoint.queued_bytes, "send_q": 0,
                 "local": _address(endpoint.local), "peer": _address(endpoint.remote)},
                endpoint, _skmem(endpoint.queued_bytes, endpoint.rcvbuf, 0, endpoint.sndbuf,
                                 endpoint.drops))
    return rows


def _skmem(held_in: int, rcvbuf: int, held_out: int, sndbuf: int,
           drops: int = 0) -> dict[str, int]:
    """ss -m's skmem fields we can honestly fill: bytes held and allowed each way, drops."""
    return {"r": held_in, "rb": rcvbuf, "t": held_out, "tb": sndbuf, "d": drops}


def _users(stack: Stack) -> dict[int, dict[str, Any]]:
    """id(connection, listener or endpoint) -> who holds the socket over it (ss's users:
    name, pid, fd). Sockets of other stacks in this process are left out."""
    pid, found = os.getpid(), {}
    for sock in live_sockets():
        if getattr(sock.host, "stack", None) is not stack:
            continue
        for attribute in ("_conn", "_listener", "_ep"):
            thing = getattr(sock, attribute, None)
            if thing is not None:
                found[id(thing)] = {"name": sock.owner, "pid": pid, "fd": sock.fileno()}
    return found


def ip_addr(stack: Stack, ifname: str) -> list[dict[str, Any]]:
    """`ip -j addr show`: the one interface a stack has."""
    config = stack.config
    interface = config.address
    return [{
        "ifindex": 1, "ifname": ifname, "flags": ["BROADCAST", "UP", "LOWER_UP"],
        "mtu": config.mtu, "operstate": "UP", "link_type": "ether",
        "address": format_mac(config.mac), "broadcast": "ff:ff:ff:ff:ff:ff",
        "addr_info": [{"family": "inet", "local": str(interface.ip),
                       "prefixlen": interface.network.prefixlen,
                       "broadcast": str(interface.network.broadcast_address),
                       "scope": "global", "label": ifname}],
    }]


def ip_route(stack: Stack, ifname: str) -> list[dict[str, Any]]:
    """`ip -j route show`: default first, then the most specific networks."""
    rows = []
    for route in stack.routes.routes():
        row: dict[str, Any] = {"dst": "default" if route.network.prefixlen == 0
                               else str(route.network)}
        if route.next_hop is not None:
            row["gateway"] = str(route.next_hop)
        row["dev"] = ifname
        if route.origin == "connected":
            row.update({"protocol": "kernel", "scope": "link",
                        "prefsrc": str(stack.config.address.ip)})
        if route.mtu is not None:
            row["metrics"] = [{"mtu": route.mtu}]
        rows.append(row)
    return rows


def ip_neigh(stack: Stack, ifname: str, now: float) -> list[dict[str, Any]]:
    """`ip -j neigh show`: learned and static entries, and next hops still resolving."""
    rows = []
    for entry in stack.arp.entries():
        state = "PERMANENT" if entry.static else (
            "REACHABLE" if entry.expires_at is None or entry.expires_at > now else "STALE")
        rows.append({"dst": str(entry.ip), "dev": ifname, "lladdr": format_mac(entry.mac),
                     "state": [state]})
    known = {row["dst"] for row in rows}
    resolving = getattr(stack.arp, "resolving", list)  # a replacement ARP unit may not say
    for next_hop in resolving():
        if str(next_hop) not in known:
            rows.append({"dst": str(next_hop), "dev": ifname, "state": ["INCOMPLETE"]})
    return rows
