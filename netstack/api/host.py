"""A Host: a running stack (its engine on a background thread) and the sockets opened on it.

    with Host.open("memory:lab", "192.0.2.2/24") as host:
        with host.socket(AF_INET, SOCK_DGRAM) as s:
            s.bind(("0.0.0.0", 7))
            data, peer = s.recvfrom(2048)
            s.sendto(data, peer)

Application threads never touch protocol state. Calls that need an answer (bind, connect,
close) run on the loop thread through `engine.call`. Sends need no answer, so they do not
wait for it: they join one queue, and the loop drains it in a single control callback
(scheduled only when the queue was idle, so a burst of sends costs one wakeup, not one each).
The other way, the loop wakes the threads waiting on a socket once per pass, after it has
dispatched the whole burst of frames it read, rather than once per datagram (`_wake_later`).
"""

from __future__ import annotations

import errno
import threading
from collections import deque
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from netstack.api.base_socket import StackSocket
from netstack.api.constants import AF_INET, SOCK_DGRAM, SOCK_STREAM
from netstack.api.tcp_socket import TcpSocket
from netstack.api.udp_socket import UdpSocket
from netstack.stages.ports import os_error
from netstack.wire.ethernet import mac_from_ip

# socket type -> class
SOCKET_TYPES: dict[int, type[StackSocket]] = {SOCK_DGRAM: UdpSocket, SOCK_STREAM: TcpSocket}
SEND_BURST = 64  # datagrams the loop sends per pass before it transmits them


class Host:
    def __init__(self, engine: Any, *, owns_engine: bool = False) -> None:
        """Wrap an engine that is running (or will be); `owns_engine`: close() closes it."""
        self.engine = engine
        self.stack = engine.stack
        self.counters = engine.stack.counters
        config = engine.stack.config
        self.address: IPv4Interface = config.address
        self.broadcast_addresses = frozenset(
            {"255.255.255.255", str(config.address.network.broadcast_address)}
        )
        self._owns_engine = owns_engine
        self._lock = threading.Lock()
        self._sockets: dict[int, StackSocket] = {}
        self._closed = False
        # Datagrams handed over by application threads, for the loop thread to send.
        self._sends: deque[tuple[Any, bytes, Any]] = deque()
        self._send_scheduled = False
        # Sockets with news for their waiters, woken at the end of the engine's pass. A
        # thread woken at the first datagram of a burst would only fight the loop for the
        # GIL while the loop reads the rest; woken after, it finds the whole burst queued.
        # Loop thread only. An engine without pass hooks (a test's fake) wakes at once.
        self._to_wake: dict[int, StackSocket] = {}
        add_pass_hook = getattr(engine, "add_pass_hook", None)
        self._wakes_per_pass = add_pass_hook is not None
        if add_pass_hook is not None:
            add_pass_hook(self._wake_sockets)
        add_stop_hook = getattr(engine, "add_stop_hook", None)
        if add_stop_hook is not None:
            add_stop_hook(self._engine_stopped)

    @classmethod
    def open(cls, port_spec: str, cidr: str | IPv4Interface, *, mac: bytes | str | None = None,
             gateway: str | IPv4Address | None = None, pool_size: int | None = None,
             clock: Any = None, capture: str | None = None, engine: str = "python",
             busy_poll: bool = False, kni: str | None = None, eal: tuple[str, ...] | None = None,
             **stack_options: Any) -> Host:
        """Open the port, build the stack and start its engine on a background thread.

        The options are `netstack run`'s, and mean the same (see engine/assemble.py):
        `engine` "python" or "native", `busy_poll`, `kni` ("tap:NAME"), `eal` (dpdk: ports),
        `capture` (a pcap file of every frame); a port spec may be `tap:NAME,offload`.
        `stack_options` are StackConfig fields (mtu, routes, static_arp, impl, tcp...).
        The MAC defaults to one made from the address (192.0.2.2 -> 02:00:c0:00:02:02)."""
        from netstack.engine.assemble import open_engine
        from netstack.stack import StackConfig

        address = IPv4Interface(cidr)
        config = StackConfig(mac=mac if mac is not None else mac_from_ip(address.ip),
                             address=address, gateway=gateway, **stack_options)
        loop = open_engine(config, port_spec, engine=engine, busy_poll=busy_poll,
                           capture=capture, kni=kni, eal=eal, clock=clock, pool_size=pool_size)
        try:
            loop.start()
        except BaseException:
            loop.close()
            raise
        return cls(loop, owns_engine=True)

    # --- sockets --------------------------------------------------------------------------

    def socket(self, family: int = AF_INET, type: int = SOCK_DGRAM, proto: int = 0) -> Any:
        """A new socket on this host, like socket.socket(family, type)."""
        if family != AF_INET:
            raise os_error(errno.EAFNOSUPPORT, "only AF_INET")
        kind = SOCKET_TYPES.get(type)
        if kind is None:
            raise os_error(errno.EPROTONOSUPPORT, f"socket type {type}")
        with self._lock:
            if self._closed:
                raise os_error(errno.ENETDOWN)
            sock = kind(self, family, type, proto)
            self._sockets[sock._fileno] = sock
        return sock

    def sockets(self) -> list[StackSocket]:
        with self._lock:
            return list(self._sockets.values())

    def _forget(self, sock: StackSocket) -> None:
        with self._lock:
            self._sockets.pop(sock._fileno, None)

    # --- reaching the loop thread ---------------------------------------------------------

    def call(self, fn: Callable[[Any, float], Any], timeout: float | None = 5.0) -> Any:
        """Run fn(stack, now) on the loop thread and return its result (or raise its error)."""
        if self._closed:
            raise os_error(errno.ENETDOWN)
        return self.engine.call(fn, timeout)

    def _queue_send(self, sock: Any, payload: bytes, dst: Any) -> None:
        """Hand a datagram to the loop thread; `sock._transmit(stack, payload, dst, now)`
        sends it there. Does not wait."""
        self._sends.append((sock, payload, dst))
        # The loop clears the flag *before* draining, so a send that sees it set is
        # drained by the callback already queued, and one that sees it clear queues another.
        if not self._send_scheduled:
            self._send_scheduled = True
            self.engine.call_soon_threadsafe(self._drain_sends)

    def _drain_sends(self, stack: Any, now: float) -> None:
        self._send_scheduled = False
        sends = self._sends
        # A burst at a time: the engine transmits (and frees the mbufs) between bursts, so
        # a fast sender cannot pile its whole backlog into the mbuf pool in one pass.
        for _ in range(min(len(sends), SEND_BURST)):
            sock, payload, dst = sends.popleft()
            sock._transmit(stack, payload, dst, now)
        if sends and not self._send_scheduled:
            self._send_scheduled = True
            self.engine.call_soon_threadsafe(self._drain_sends)

    def _wake_later(self, sock: StackSocket) -> bool:
        """On the loop thread: wake `sock`'s waiters at the end of this pass (through
        `sock._wake_now_locked`). False when the engine cannot, and the caller must now."""
        if self._wakes_per_pass:
            self._to_wake[sock._fileno] = sock
        return self._wakes_per_pass

    def _wake_sockets(self, now: float) -> None:
        if not self._to_wake:
            return
        socks = list(self._to_wake.values())
        self._to_wake.clear()
        for sock in socks:
            with sock._cond:
                sock._wake_now_locked()

    # --- tools ----------------------------------------------------------------------------

    def ping(self, dst: str | IPv4Address, **options: Any) -> Any:
        """ICMP echo from this host (see netstack.api.ping.ping for the options)."""
        from netstack.api.ping import ping

        if self._closed:
            raise os_error(errno.ENETDOWN)
        return ping(self.engine, dst, **options)

    # --- stopping -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop the engine. Blocked socket calls raise OSError(ENETDOWN). Idempotent."""
        if not self._mark_down():
            return
        if self._owns_engine:
            self.engine.close()
        else:
            self.engine.stop()

    def _engine_stopped(self) -> None:
        """The engine's loop ended without close() (stopped by its owner, or crashed)."""
        self._mark_down()

    def _mark_down(self) -> bool:
        """Mark the host closed and wake every blocked call; False if it already was."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            sockets = list(self._sockets.values())
        for sock in sockets:
            sock._network_down()
        return True

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"<Host {self.address} on {self.engine.port.name} {state}>"
