"""An in-process stack whose TAP lives in a test namespace, with the kernel as its peer.

The test process stays in the host's namespace. `Namespace.call` opens the stack's TAP (and
any kernel socket the test wants) from a thread that has joined the test namespace, so the
stack's sockets and the kernel's sockets are both plain objects in the test:

    with StackInNamespace(tmp_path) as bench:
        stack_sock = bench.host.socket(AF_INET, SOCK_DGRAM)     # netstack, 192.0.2.2
        kernel_sock = bench.kernel_socket()                     # Linux, 192.0.2.1
        ...
    # the host is closed, the namespace is gone, and tshark has checked the capture

Also here: `KernelUdpEcho`, a UDP echo server run by the kernel (a thread in this process
with a socket in the namespace), and `run_python`, a script run by the namespace's Python.
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.capture_check import assert_capture_clean, tshark_available
from tests.interop.kernel_peer import KERNEL_CIDR, STACK_CIDR, STACK_IP, STACK_MAC
from tests.netns import Namespace, unique_name

__all__ = ["KERNEL_IP", "REPLY_TIMEOUT", "STACK_IP", "STACK_MAC", "KernelUdpEcho",
           "StackInNamespace", "run_python"]

KERNEL_IP = KERNEL_CIDR.split("/")[0]
# Generous, because a loaded CI machine is slow; a passing test never waits this long.
REPLY_TIMEOUT = 5.0


class StackInNamespace:
    """A namespace whose kernel is 192.0.2.1 on a TAP and whose other end is an in-process
    netstack Host (192.0.2.2). Leaving the block closes the host and deletes the namespace;
    when the block succeeded, tshark then checks every frame the stack sent."""

    def __init__(self, tmp_path: Path, prefix: str = "nsu", min_frames: int = 1,
                 engine: str = "python") -> None:
        self.tap = unique_name("ut")
        self.engine = engine  # "python" or "native": which I/O engine the host runs
        self.stack_options: dict[str, Any] = {}  # StackConfig fields for Host.open
        self.capture = str(tmp_path / f"{self.tap}.pcap")
        self.mac = STACK_MAC
        self.min_frames = min_frames
        self.ns = Namespace(prefix)
        self.host: Any = None
        self._kernel_sockets: list[socket.socket] = []

    def __enter__(self) -> StackInNamespace:
        self.ns.__enter__()
        try:
            # Opened from inside the namespace: the TAP device is created there.
            self.host = self.ns.call(open_captured_host, f"tap:{self.tap}", STACK_CIDR, STACK_MAC,
                                     self.capture, engine=self.engine, **self.stack_options)
            self.ns.add_address(self.tap, KERNEL_CIDR)
            self.ns.link_up(self.tap)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        self.close()
        if exc_type is None and tshark_available():
            assert_capture_clean(self.capture, self.mac, min_frames=self.min_frames)

    def close(self) -> None:
        while self._kernel_sockets:
            self._kernel_sockets.pop().close()
        if self.host is not None:
            # The engine thread was born in the namespace and keeps it alive: stop it first.
            self.host.close()
            self.host = None
        self.ns.close()

    @property
    def counters(self) -> Any:
        return self.host.counters

    def kernel_socket(self, kind: int = socket.SOCK_DGRAM, timeout: float = REPLY_TIMEOUT) -> socket.socket:
        """A Linux socket in the namespace (so 192.0.2.1 is its address); closed at the end."""
        sock = self.ns.call(socket.socket, socket.AF_INET, kind)
        sock.settimeout(timeout)
        self._kernel_sockets.append(sock)
        return sock


def open_captured_host(port_spec: str, cidr: str, mac: str, capture_path: str,
                       engine: str = "python", **stack_options: Any) -> Any:
    """Host.open with a pcap of every frame, for the tshark check."""
    from netstack.api.host import Host

    return Host.open(port_spec, cidr, mac=mac, capture=capture_path, engine=engine,
                     **stack_options)


class KernelUdpEcho:
    """A UDP echo server run by the Linux kernel of `ns`, on a thread of this process.

    It waits on a selector for its socket and a wakeup pipe, so stop() ends it at once."""

    def __init__(self, ns: Namespace, address: tuple[str, int]) -> None:
        self.sock = ns.call(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.address = address
        self.received: list[tuple[bytes, tuple[str, int]]] = []
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="kernel-udp-echo", daemon=True)

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj == self._wake_r:
                        return
                    data, sender = self.sock.recvfrom(65535)
                    self.received.append((data, sender))
                    self.sock.sendto(data, sender)

    def __enter__(self) -> KernelUdpEcho:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join(REPLY_TIMEOUT)
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self.sock.close()


def run_python(ns: Namespace, script: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run `script` (source text) with this Python inside the namespace; check it exits 0."""
    return ns.run([sys.executable, "-c", script, *args], timeout=timeout)
