"""A lab bench for interop tests: the stack on a TAP, the Linux kernel on the other side.

    with KernelPeer() as bench:             # a fresh namespace; netstack runs inside it
        bench.ping("-c", "3")               # the kernel pings the stack
        counters = bench.stop()             # SIGINT, exit status checked, counters parsed
        assert_capture_clean(bench.capture, bench.mac)

The namespace, the TAP device and the stack process are removed when the block ends, even
when an assertion fails inside it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

import threading

from netstack.netns import Namespace, is_root, unique_name, wait_for_line

requires_root = pytest.mark.skipif(
    not is_root(), reason="needs root: creates network namespaces and TAP devices"
)

KERNEL_CIDR = "192.0.2.1/24"
STACK_CIDR = "192.0.2.2/24"
STACK_IP = "192.0.2.2"
STACK_MAC = "02:00:c0:00:02:02"


def parse_counters(output: str) -> dict[str, int]:
    """Counter lines look like `ipv4.drop.bad_checksum 3` (optionally indented)."""
    counters: dict[str, int] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and "." in parts[0] and parts[1].isdigit():
            counters[parts[0]] = int(parts[1])
    return counters


class KernelPeer:
    """A namespace whose kernel is 192.0.2.1 on a TAP, and netstack as 192.0.2.2 on it."""

    def __init__(self, tmp_path: Path, *extra_args: str, kernel_mtu: int | None = None) -> None:
        self.tap = unique_name("nt")
        self.capture = str(tmp_path / f"{self.tap}.pcap")
        self.mac = STACK_MAC
        self.extra_args = extra_args
        self.kernel_mtu = kernel_mtu
        self.ns = Namespace("nsi")
        self.proc: subprocess.Popen[bytes] | None = None
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    def __enter__(self) -> KernelPeer:
        self.ns.__enter__()
        try:
            self.proc = self.ns.popen([
                sys.executable, "-m", "netstack", "run", "--port", f"tap:{self.tap}",
                "--ip", STACK_CIDR, "--mac", STACK_MAC, "--capture", self.capture,
                *self.extra_args,
            ])
            self.ready_line = wait_for_line(self.proc, "ready", timeout=20)
            self._start_reader()
            self.ns.add_address(self.tap, KERNEL_CIDR)
            if self.kernel_mtu:
                self.ns.run(["ip", "link", "set", "dev", self.tap, "mtu", str(self.kernel_mtu)])
            self.ns.link_up(self.tap)
        except BaseException:
            self.ns.close()
            raise
        return self

    def _start_reader(self) -> None:
        # Keep reading the stack's output so its pipe never fills and blocks it.
        stream = self.proc.stdout

        def pump() -> None:
            try:
                for raw in iter(stream.readline, b""):
                    self.output.append(raw.decode(errors="replace").rstrip())
            except (OSError, ValueError):  # the namespace teardown closed the pipe
                pass

        self._reader = threading.Thread(target=pump, daemon=True)
        self._reader.start()

    def __exit__(self, *exc_info: object) -> None:
        self.ns.close()

    def run(self, *cmd: str, check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.ns.run(list(cmd), check=check, timeout=timeout)

    def ping(self, *args: str, target: str = STACK_IP) -> subprocess.CompletedProcess[str]:
        return self.run("ping", "-n", "-W", "2", *args, target)

    def stop(self) -> dict[str, int]:
        """Stop the stack the way a user does (Ctrl-C); check it exits 0; return its counters."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail("netstack did not exit within 10 s of SIGINT")
        self._reader.join(timeout=5)  # it ends at EOF, once the process has exited
        output = "\n".join(self.output)
        assert code == 0, f"netstack exited {code}; output:\n{output}"
        return parse_counters(output)


def ping_ok(result: subprocess.CompletedProcess[str], count: int) -> bool:
    return result.returncode == 0 and f"{count} received" in result.stdout and " 0% packet loss" in result.stdout
