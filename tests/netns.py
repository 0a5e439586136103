"""Helpers for tests that use real network namespaces, TAP and veth devices (root only).

Built on `netstack.netns` (Namespace, unique_name, wait_for_line), adding what tests need:

    Namespace(prefix)             a throw-away namespace; `with` deletes it, its devices and
                                  the processes started in it, even when the test fails
    veth_pair(ns_a, ns_b)         a veth cable between two namespaces (or inside one)
    NetstackProcess(ns, *args)    `python -m netstack run ARGS` inside a namespace: waits for
                                  its `ready` line, keeps reading its output, stops it with a
                                  signal, checks the exit status, has tshark check every frame
                                  the stack sent (tests/capture_check.py) and parses the counters
    wait_until(condition, ...)    poll a condition until it holds or a deadline fails the test
    parse_counters(text)          the `name value` lines netstack prints on exit
    unique_name(prefix)           a short random name that fits an interface name

The fixture `netns` in tests/conftest.py gives a fresh Namespace per test; mark root-only
tests with `@pytest.mark.root` (they are skipped, with the reason, when not root).

Example: the kernel pings the stack through a TAP device::

    @pytest.mark.root
    def test_kernel_pings_stack(netns):
        tap = unique_name("tap")
        with NetstackProcess(netns, "--port", f"tap:{tap}", "--ip", "192.0.2.2/24") as stack:
            netns.add_address(tap, "192.0.2.1/24")
            netns.link_up(tap)
            assert netns.run(["ping", "-c", "3", "-W", "2", "192.0.2.2"]).returncode == 0
            counters = stack.stop()          # SIGTERM; asserts exit status 0
        assert counters["icmp.rx.echo_request"] == 3
        assert not netns.has_link(tap)       # the stack removed the TAP it created

Only 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32 belong in these tests,
and nothing here touches the host's own namespace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from netstack.netns import Namespace, NamespaceError, is_root, unique_name, wait_for_line
from tests.capture_check import assert_capture_clean, tshark_available

__all__ = [
    "Namespace", "NamespaceError", "NetstackProcess", "is_root", "parse_counters",
    "unique_name", "veth_pair", "wait_until",
]

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 5.0, interval: float = 0.01,
               what: str = "the condition") -> T:
    """Call `condition` until it returns something truthy, and return that. After `timeout`
    seconds, fail with `what` in the message. Polling with a deadline, never sleep-and-hope."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def veth_pair(ns_a: Namespace, ns_b: Namespace | None = None, name_a: str | None = None,
              name_b: str | None = None, up: bool = True) -> tuple[str, str]:
    """Create a veth pair with end `name_a` in `ns_a` and `name_b` in `ns_b` (default: ns_a).
    Returns the two names. The ends vanish with their namespaces; nothing to clean up."""
    name_a = name_a or unique_name("va")
    name_b = name_b or unique_name("vb")
    ns_b = ns_b or ns_a
    ns_a.run(["ip", "link", "add", name_a, "type", "veth", "peer", "name", name_b,
              "netns", ns_b.name])
    if up:
        ns_a.link_up(name_a)
        ns_b.link_up(name_b)
    return name_a, name_b


def parse_counters(output: str) -> dict[str, int]:
    """Counter lines look like `  ipv4.drop.bad_checksum 3`."""
    counters: dict[str, int] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and "." in parts[0] and parts[1].isdigit():
            counters[parts[0]] = int(parts[1])
    return counters


class NetstackProcess:
    """`netstack run ARGS` in a namespace, from its ready line to its exit.

    Entering the `with` block starts it and waits (with a deadline) for `ready`; leaving it
    makes sure the process is gone. `stop()` sends a signal the way a user would, checks the
    exit status, and returns the counters it printed.
    """

    def __init__(self, ns: Namespace, *args: str, ready_timeout: float = 20.0) -> None:
        self.ns = ns
        # Every run is captured, so stop() can have tshark check each frame the stack sent.
        if "--capture" not in args:
            self._capture_dir = tempfile.TemporaryDirectory(prefix="netstack-capture-")
            args = (*args, "--capture", os.path.join(self._capture_dir.name, "run.pcap"))
        self.capture = args[args.index("--capture") + 1]
        self.args = args
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_line = ""
        self.lines: list[str] = []  # everything printed after the ready line
        self.returncode: int | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> NetstackProcess:
        self.proc = self.ns.popen([sys.executable, "-m", "netstack", "run", *self.args])
        self.ready_line = wait_for_line(self.proc, "ready", timeout=self.ready_timeout)
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        return self

    def _read_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                self.lines.append(raw.decode(errors="replace").rstrip())
        except (OSError, ValueError):  # the pipe was closed by a teardown
            pass

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0,
             expect_status: int | None = 0) -> dict[str, int]:
        """Signal the stack, wait for it to exit, check the status; return its counters."""
        assert self.proc is not None, "not started"
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
            raise AssertionError(f"netstack did not exit within {timeout:g} s of signal {sig}; "
                                 f"output:\n{self.output}") from None
        if self._reader is not None:
            self._reader.join(timeout)  # it ends at EOF, after the process exited
        if expect_status is not None:
            assert self.returncode == expect_status, (
                f"netstack exited {self.returncode}, expected {expect_status}; output:\n{self.output}")
        if expect_status == 0 and tshark_available():
            assert_capture_clean(self.capture, self.mac, min_frames=1)
        return parse_counters(self.output)

    @property
    def mac(self) -> str:
        """The stack's MAC, from its ready line (`ready 192.0.2.2/24 on tap:x mac 02:...`)."""
        words = self.ready_line.split()
        return words[words.index("mac") + 1]

    def __enter__(self) -> NetstackProcess:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
