"""A lab bench for interop tests: the stack on a TAP, the Linux kernel on the other side.

    with KernelPeer(tmp_path) as bench:     # a fresh namespace; netstack runs inside it
        bench.ping("-c", "3")               # the kernel pings the stack
        counters = bench.stop()             # SIGINT, exit status 0 checked, counters parsed
    assert_capture_clean(bench.capture, bench.mac)

The namespace, the TAP device and the stack process are removed when the block ends, even
when an assertion fails inside it. Built on tests/netns.py.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.netns import Namespace, NetstackProcess, is_root, unique_name

requires_root = pytest.mark.skipif(
    not is_root(), reason="needs root: creates network namespaces and TAP devices"
)

KERNEL_CIDR = "192.0.2.1/24"
STACK_CIDR = "192.0.2.2/24"
STACK_IP = "192.0.2.2"
STACK_MAC = "02:00:c0:00:02:02"


class KernelPeer:
    """A namespace whose kernel is 192.0.2.1 on a TAP, and netstack as 192.0.2.2 on it."""

    # The stack's --port, given the TAP's name. Subclasses swap it (tests/dpdk: DPDK's TAP PMD).
    PORT_SPEC = "tap:{tap}"

    def __init__(self, tmp_path: Path, *extra_args: str, kernel_mtu: int | None = None) -> None:
        self.tap = unique_name("nt")
        self.capture = str(tmp_path / f"{self.tap}.pcap")
        self.mac = STACK_MAC
        self.kernel_mtu = kernel_mtu
        self.ns = Namespace("nsi")
        self.stack = NetstackProcess(
            self.ns, "--port", self.PORT_SPEC.format(tap=self.tap), "--ip", STACK_CIDR, "--mac", STACK_MAC,
            "--capture", self.capture, *extra_args,
        )

    def __enter__(self) -> KernelPeer:
        self.ns.__enter__()
        try:
            self.stack.start()
            self.ns.add_address(self.tap, KERNEL_CIDR)
            if self.kernel_mtu:
                self.ns.run(["ip", "link", "set", "dev", self.tap, "mtu", str(self.kernel_mtu)])
            self.ns.link_up(self.tap)
        except BaseException:
            self.ns.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.ns.close()

    def run(self, *cmd: str, check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.ns.run(list(cmd), check=check, timeout=timeout)

    def ping(self, *args: str, target: str = STACK_IP) -> subprocess.CompletedProcess[str]:
        return self.run("ping", "-n", "-W", "2", *args, target)

    def stop(self) -> dict[str, int]:
        """Stop the stack the way a user does (Ctrl-C); check it exits 0; return its counters."""
        return self.stack.stop(sig=signal.SIGINT)


def ping_ok(result: subprocess.CompletedProcess[str], count: int) -> bool:
    return result.returncode == 0 and f"{count} received" in result.stdout and " 0% packet loss" in result.stdout
