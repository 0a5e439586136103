"""Applications: ordinary asyncio code over sockets.

Each takes `make_socket(family, type)` (a netstack Host's `socket`, or `socket.socket` against
Linux) and the running loop's `sock_*` calls, nothing else, so the same code runs on the
simulator's virtual-time loop and on a real one. They report into a FlowRecord (record.py)
with the loop's clock.

    bulk       iperf-like: send for a duration, or a size, as fast as TCP allows
    fetch      request/response: ask for N bytes, read them, repeat (a web fetch each,
               on a new connection, as HTTP/1.0 does)
    onoff      a bulk source that sends for `on` seconds, then idles `off` seconds
    ping       ICMP echo every `interval` (needs the stack: stack.icmp)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from netstack.api.constants import AF_INET, SOCK_STREAM
from netstack.sim.record import FlowRecord

CHUNK = 64 * 1024  # bytes handed to one sock_sendall
READ_SIZE = 256 * 1024
BACKLOG = 128


def _nonblocking(sock: Any) -> Any:
    sock.setblocking(False)
    return sock


async def _read_to_eof(loop, sock, record: FlowRecord | None) -> int:
    total = 0
    while True:
        data = await loop.sock_recv(sock, READ_SIZE)
        if not data:
            return total
        total += len(data)
        if record is not None:
            record.app_bytes += len(data)


# --- servers: accept forever, serve each connection in a task ---------------------------

async def serve(make_socket: Callable[[int], Any], port: int,
                handle: Callable[[Any, Any], Any]) -> None:
    """Listen on `port`, run handle(loop, conn) for each connection; until cancelled."""
    loop = asyncio.get_running_loop()
    listener = _nonblocking(make_socket(AF_INET, SOCK_STREAM))
    listener.bind(("0.0.0.0", port))
    listener.listen(BACKLOG)
    tasks: set[asyncio.Task] = set()
    try:
        while True:
            conn, _ = await loop.sock_accept(listener)
            task = loop.create_task(handle(loop, _nonblocking(conn)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        listener.close()


def sink_handler(record: FlowRecord, on_eof: Callable[[float], None] | None = None):
    """A server that reads everything (bulk and onoff receivers)."""

    async def handle(loop, conn) -> None:
        try:
            await _read_to_eof(loop, conn, record)
            if on_eof is not None:
                on_eof(loop.time())
        finally:
            conn.close()

    return handle


def fetch_handler():
    """A server that reads one request line "GET <bytes>\\n" and sends that many bytes."""

    async def handle(loop, conn) -> None:
        try:
            request = b""
            while not request.endswith(b"\n"):
                data = await loop.sock_recv(conn, 1024)
                if not data:
                    return
                request += data
            size = int(request.split()[1])
            payload = bytes(CHUNK)
            while size > 0:
                await loop.sock_sendall(conn, payload[:min(size, CHUNK)])
                size -= min(size, CHUNK)
        finally:
            conn.close()

    return handle


# --- clients ----------------------------------------------------------------------------

async def _connect(make_socket, address: tuple[str, int], setup=None, on_connected=None):
    """A connected non-blocking socket. `setup(sock)` runs before connecting (socket
    options), `on_connected(sock)` after (a probe that needs the local port)."""
    loop = asyncio.get_running_loop()
    sock = _nonblocking(make_socket(AF_INET, SOCK_STREAM))
    try:
        if setup is not None:
            setup(sock)
        await loop.sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    if on_connected is not None:
        on_connected(sock)
    return loop, sock


async def bulk(make_socket, address: tuple[str, int], *, size: int | None = None,
               duration: float | None = None, setup=None,
               on_connected: Callable[[Any], None] | None = None) -> None:
    """Send `size` bytes, or for `duration` seconds (or until cancelled), then close."""
    loop, sock = await _connect(make_socket, address, setup, on_connected)
    payload = bytes(CHUNK)
    stop_at = None if duration is None else loop.time() + duration
    left = size
    try:
        while left is None or left > 0:
            if stop_at is not None and loop.time() >= stop_at:
                break
            n = CHUNK if left is None else min(CHUNK, left)
            await loop.sock_sendall(sock, payload[:n])
            if left is not None:
                left -= n
    finally:
        sock.close()


async def onoff(make_socket, address: tuple[str, int], *, on: float, off: float,
                setup=None, on_connected=None) -> None:
    """Send as fast as allowed for `on` seconds, idle `off` seconds, repeat until cancelled."""
    loop, sock = await _connect(make_socket, address, setup, on_connected)
    payload = bytes(CHUNK)
    try:
        while True:
            stop_at = loop.time() + on
            while loop.time() < stop_at:
                await loop.sock_sendall(sock, payload)
            await asyncio.sleep(off)
    finally:
        sock.close()


async def fetch(make_socket, address: tuple[str, int], record: FlowRecord, *,
                response: int, interval: float, count: int | None = None, setup=None,
                on_connected=None) -> None:
    """Every `interval` seconds, fetch `response` bytes on a new connection; each fetch's
    completion time (connect to last byte) goes into record.completion_times."""
    loop = asyncio.get_running_loop()
    done = 0
    while count is None or done < count:
        began = loop.time()
        _, sock = await _connect(make_socket, address, setup, on_connected)
        try:
            await loop.sock_sendall(sock, b"GET %d\n" % response)
            got = await _read_to_eof(loop, sock, record)
        finally:
            sock.close()
        if got == response:
            record.completion_times.append(loop.time() - began)
        done += 1
        await asyncio.sleep(max(0.0, began + interval - loop.time()))


async def ping(host, dst, record: FlowRecord, *, interval: float, size: int = 56,
               count: int | None = None, identifier: int = 0x5157) -> None:
    """ICMP echo every `interval` seconds (replies may come after the next request leaves,
    as with ping(8)); each reply's RTT goes into record.rtt_samples. `host` is a netstack
    Host: ICMP has no socket in netstack.api, so this one calls the stack's ICMP stage."""
    from ipaddress import IPv4Address

    loop = asyncio.get_running_loop()
    destination = IPv4Address(dst)
    payload = bytes(i & 0xFF for i in range(size))
    sent_at: dict[int, float] = {}

    def on_reply(src, sequence, reply_payload, now) -> None:
        began = sent_at.pop(sequence, None)
        if began is not None and src == destination:
            record.rtt_samples.append((began, now - began))

    host.call(lambda stack, now: stack.icmp.add_echo_listener(identifier, on_reply))
    sequence = 0
    try:
        while count is None or sequence < count:
            sequence = (sequence + 1) & 0xFFFF
            began = loop.time()
            sent_at[sequence] = began
            record.frames_sent += 1
            host.call(lambda stack, now, s=sequence: stack.icmp.send_echo(
                destination, identifier, s, payload, now))
            await asyncio.sleep(interval)
    finally:
        record.frames_lost = len(sent_at)
        host.call(lambda stack, now: stack.icmp.remove_echo_listener(identifier))
