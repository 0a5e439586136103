"""The TCP lab bench: what the TCP interop, loss, leak and robustness tests share.

The stack is 192.0.2.2 and the Linux kernel 192.0.2.1, as everywhere in tests/interop. Three
kinds of tools live here:

- **Known bytes.** `known_bytes(n, seed)` is a reproducible, non-repeating byte string, so a
  transfer that arrives reordered, duplicated or truncated has a different sha256.
- **Kernel-side programs.** Small Python scripts run by the namespace's Python, so their
  sockets are the kernel's: a client that pushes bytes through an echo service with one
  thread sending and one receiving (`ECHO_CLIENT`), a sender (`SEND_CLIENT`), a receiving
  server (`SINK_SERVER`), a connect/echo/close loop (`CYCLE_CLIENT`) and the services
  themselves. They live in netstack/bench/tcp_kernel.py, shared with `netstack bench`. Each
  client prints one line of `key=value` words that `parse_result` reads. `KernelProgram`
  starts one in a namespace and kills it by pid when the test ends, pass or fail.
- **Loss.** `drop_tcp(ns, percent)` makes nftables, in the kernel's namespace, drop that share
  of TCP segments going to the stack and coming from it. The rules count what they drop, so
  a test can prove the loss happened (`dropped_segments`). There is no `tc netem` here.

`TcpStackInNamespace` is StackInNamespace with stack options (e.g. a short MSL); `KernelPair`
is two kernel namespaces joined by a veth cable, with the same addresses, for the
kernel-to-kernel reference runs.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from netstack.bench import tcp_kernel
from netstack.bench.tcp_kernel import (
    CHARGEN_SERVER,
    CYCLE_CLIENT,
    DISCARD_SERVER,
    ECHO_CLIENT,
    ECHO_SERVER,
    RECV_CLIENT,
    SEND_CLIENT,
    SINK_SERVER,
    KernelPair,
    drop_tcp,
    dropped_segments,
)
from tests.interop.kernel_peer import STACK_IP, STACK_MAC
from tests.interop.stack_in_namespace import KERNEL_IP, StackInNamespace
from tests.netns import Namespace, wait_until

__all__ = [
    "CHARGEN_SERVER", "CYCLE_CLIENT", "DISCARD_SERVER", "ECHO_CLIENT", "ECHO_SERVER",
    "KERNEL_IP", "MB", "RECV_CLIENT", "SEND_CLIENT", "SINK_SERVER", "STACK_IP", "STACK_MAC",
    "KernelPair", "KernelProgram", "TcpStackInNamespace", "drop_tcp", "dropped_segments",
    "http_bytes_pattern", "known_bytes", "parse_result", "sha256_hex", "tcp_listening",
    "wait_for_listener",
]

MB = 1_000_000

# --- known bytes ------------------------------------------------------------------------


def known_bytes(n: int, seed: int = 4) -> bytes:
    """`n` reproducible pseudo-random bytes: no period, so any misplaced byte shows."""
    return random.Random(seed).randbytes(n)


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def http_bytes_pattern(n: int) -> bytes:
    """What the http service's `/bytes/N` must return, by its documented rule: byte i is
    i % 256. Computed here, not borrowed from the service, so the test checks the service."""
    return (bytes(range(256)) * (n // 256 + 1))[:n]


# --- kernel-side programs -----------------------------------------------------------------
# The scripts themselves (ECHO_CLIENT, SEND_CLIENT, ...) are in netstack/bench/tcp_kernel.py,
# shared with `netstack bench --only tcp`.


def parse_result(output: str) -> dict[str, str]:
    """The `result key=value ...` line a kernel-side client printed, as a dict."""
    try:
        return tcp_kernel.parse_result(output)
    except KeyError:
        raise AssertionError(f"the kernel-side program printed no result line:\n{output}") from None


class KernelProgram:
    """One of the scripts above, run by the kernel in `ns`, in the background.

    `wait(timeout)` returns its output once it exits 0 and fails the test with its output
    when it exits otherwise or overruns the deadline (it is then killed by pid). Leaving the
    `with` block kills it if it is still running."""

    def __init__(self, ns: Namespace, script: str, *args: str, stdin: bool = False) -> None:
        self.ns = ns
        self.proc: subprocess.Popen[bytes] = ns.popen(
            [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        )

    def wait(self, timeout: float, what: str = "the kernel-side program") -> str:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{what} did not finish within {timeout:g} s") from None
        text = out.decode(errors="replace")
        if self.proc.returncode != 0:
            raise AssertionError(f"{what} exited {self.proc.returncode}:\n{text}"
                                 f"{err.decode(errors='replace')}")
        return text

    def wait_for_line(self, prefix: str, timeout: float = 10.0) -> str:
        from netstack.netns import wait_for_line  # noqa: PLC0415

        return wait_for_line(self.proc, prefix, timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # by pid: only the process we started
            self.proc.wait(timeout=10)

    def __enter__(self) -> KernelProgram:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def tcp_listening(ns: Namespace, port: int) -> bool:
    """True once a kernel socket in `ns` listens on TCP `port`."""
    return bool(ns.run(["ss", "-Hntl", f"sport = :{port}"], check=False).stdout.strip())


def wait_for_listener(ns: Namespace, port: int, timeout: float = 10.0) -> None:
    wait_until(lambda: tcp_listening(ns, port), timeout=timeout,
               what=f"a kernel server to listen on TCP port {port}")


# --- benches ------------------------------------------------------------------------------


class TcpStackInNamespace(StackInNamespace):
    """StackInNamespace whose Host is opened with `stack_options` (StackConfig fields, such
    as TCP tunables) and, optionally, a larger mbuf pool."""

    def __init__(self, tmp_path: Path, prefix: str = "nst", min_frames: int = 1,
                 engine: str = "python", **stack_options: Any) -> None:
        super().__init__(tmp_path, prefix=prefix, min_frames=min_frames, engine=engine)
        self.stack_options = stack_options  # StackInNamespace opens the host with them

