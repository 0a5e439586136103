"""Network-namespace plumbing for the demo, the benchmarks and the interop tests.

Everything that touches real networking runs inside a namespace that we create and delete
ourselves, so a test can never disturb the host's interfaces or routes. A namespace here is
throw-away: it gets a unique name, its loopback comes up, and leaving the `with` block ends the
processes started in it and deletes it (TAP and veth devices inside it go with it), even after
an exception or Ctrl-C.

Nothing here sleeps and hopes: each wait has a deadline and, when it runs out, raises with
what it saw so far.

Example (as root)::

    from netstack.netns import Namespace, wait_for_line

    with Namespace("demo") as ns:
        responder = ns.popen(["./tap_responder", "tap0", "192.0.2.2", "02:00:00:00:00:02"])
        wait_for_line(responder, "ready", timeout=5)     # the TAP exists now
        ns.add_address("tap0", "192.0.2.1/24")
        ns.link_up("tap0")
        print(ns.run(["ping", "-c", "3", "192.0.2.2"]).stdout)
    # the responder has been terminated and the namespace is gone

A test process can also reach into a namespace without leaving the host's: `ns.call(fn)` runs
`fn` on a thread that has joined the namespace (setns(2)), so a socket or TAP device that `fn`
opens lives there, while the test itself stays put::

    kernel_socket = ns.call(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
"""

from __future__ import annotations

import ctypes
import os
import secrets
import select
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from netstack.errors import NetstackError

T = TypeVar("T")

# Linux limits interface and namespace names we build on to IFNAMSIZ - 1 characters.
IFNAME_MAX = 15
# How long a process gets to exit after SIGTERM before it is killed.
TERMINATE_GRACE = 3.0
# setns(2)'s nstype for a network namespace (<sched.h>); Python 3.11 has no os.setns.
CLONE_NEWNET = 0x40000000
# Where `ip netns add NAME` keeps the file that names the namespace.
NETNS_RUN_DIR = "/run/netns"


class NamespaceError(NetstackError):
    """A namespace command failed, or a process did not print what we waited for in time."""


def is_root() -> bool:
    """True when we may create namespaces and TAP devices."""
    return os.geteuid() == 0


def unique_name(prefix: str, max_len: int = IFNAME_MAX) -> str:
    """`prefix` plus a random suffix, short enough for an interface name."""
    suffix = secrets.token_hex(3)
    return f"{prefix[: max_len - len(suffix) - 1]}-{suffix}"


class Namespace:
    """A uniquely named network namespace that exists for the duration of a `with` block."""

    def __init__(self, prefix: str = "netstack") -> None:
        # Namespace names may be long, but keeping them short keeps `ip netns` output readable.
        self.name = unique_name(prefix, max_len=24)
        self._processes: list[subprocess.Popen[Any]] = []
        self._created = False

    def __enter__(self) -> Namespace:
        _ip(["netns", "add", self.name])
        self._created = True
        try:
            self.link_up("lo")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the processes started with `popen`, then delete the namespace. Idempotent."""
        while self._processes:
            terminate(self._processes.pop())
        if self._created:
            self._created = False
            # A namespace with a process still inside outlives `ip netns delete`; the
            # processes we know of are gone, so this removes it and every device in it.
            subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, check=False)

    def _wrap(self, cmd: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *cmd]

    def run(
        self, cmd: Sequence[str], check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run `cmd` inside the namespace, capture its output as text, and wait at most `timeout`.

        With `check`, a non-zero exit raises `NamespaceError` carrying the command's output.
        """
        try:
            result = subprocess.run(
                self._wrap(cmd), capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise NamespaceError(
                f"{' '.join(cmd)} did not finish within {timeout:g} s: {_text(exc.stdout)}"
            ) from exc
        if check and result.returncode != 0:
            raise NamespaceError(
                f"{' '.join(cmd)} exited {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()}"
            )
        return result

    def popen(self, cmd: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start `cmd` inside the namespace; it is terminated when the namespace closes.

        By default stdout is a pipe (for `wait_for_line`) and stderr is merged into it.
        """
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.STDOUT)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc: subprocess.Popen[bytes] = subprocess.Popen(self._wrap(cmd), **kwargs)
        self._processes.append(proc)
        return proc

    def add_address(self, dev: str, cidr: str) -> None:
        """Give `dev` the address `cidr` (e.g. "192.0.2.1/24"); doing it twice is harmless."""
        self.run(["ip", "address", "replace", cidr, "dev", dev])

    def link_up(self, dev: str) -> None:
        self.run(["ip", "link", "set", "dev", dev, "up"])

    def has_link(self, dev: str) -> bool:
        return self.run(["ip", "link", "show", "dev", dev], check=False).returncode == 0

    def sysctl(self, key: str, value: str) -> None:
        """Set a sysctl inside the namespace (net.* keys are per namespace)."""
        self.run(["sysctl", "-q", "-w", f"{key}={value}"])

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` inside this namespace, from this process; see `in_namespace`."""
        return in_namespace(self.name, fn, *args, **kwargs)


def in_namespace(ns_name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn` on a short-lived thread that has joined the network namespace `ns_name`.

    Return its result or raise its exception. A network namespace belongs to a thread, not to
    the process, so only that thread moves: the caller and every other thread stay where they
    were. What `fn` creates there stays there and keeps working from any thread: a socket, a
    TAP device opened through /dev/net/tun (the device is created in the namespace), and
    threads `fn` starts (a new thread inherits its creator's namespace). Such threads keep
    the namespace alive, so stop them before deleting it.
    """
    outcome: dict[str, Any] = {}

    def enter_and_run() -> None:
        try:
            _setns(os.path.join(NETNS_RUN_DIR, ns_name))
            outcome["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=enter_and_run, name=f"netns {ns_name}", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _setns(path: str) -> None:
    """Move the calling thread into the network namespace named by the file `path`."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NamespaceError(f"setns({path}) failed: {os.strerror(err)}")
    finally:
        os.close(fd)


def _ip(args: Sequence[str]) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=10)
    if result.returncode != 0:
        raise NamespaceError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def terminate(proc: subprocess.Popen[Any], grace: float = TERMINATE_GRACE) -> int | None:
    """SIGTERM `proc`, wait up to `grace` seconds, then SIGKILL it. Returns its exit code."""
    if proc.poll() is None:
        # `ip netns exec` execs the command, so the pid we hold is the program itself.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return proc.returncode


def wait_for_line(proc: subprocess.Popen[bytes], prefix: str, timeout: float) -> str:
    """Read `proc`'s stdout until a line starts with `prefix`, and return that line.

    Raises `NamespaceError` with everything read so far when the deadline passes or the
    process exits first. Output after the matching line stays unread in the pipe: a process
    that keeps talking needs `drain_in_background` so the pipe never fills and blocks it.
    """
    if proc.stdout is None:
        raise ValueError("wait_for_line needs a process started with stdout=PIPE")
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    seen = b""
    eof = False
    while True:
        # Only complete lines count (until EOF), so a partial line is never matched early.
        lines = seen.split(b"\n")
        for line in lines if eof else lines[:-1]:
            text = line.decode(errors="replace").rstrip("\r")
            if text.startswith(prefix):
                return text
        if eof:
            code = proc.wait(timeout=TERMINATE_GRACE)
            raise NamespaceError(
                f"process exited with {code} before printing {prefix!r}; "
                f"output: {_text(seen).strip()!r}"
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NamespaceError(
                f"no line starting with {prefix!r} within {timeout:g} s; "
                f"output so far: {_text(seen).strip()!r}"
            )
        # select + os.read instead of readline(): readline() would block past the deadline.
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 65536)
            eof = not chunk  # the process closed stdout, normally because it exited
            seen += chunk


def drain_in_background(proc: subprocess.Popen[bytes], keep_lines: int = 50) -> deque[str]:
    """Keep reading `proc`'s stdout on a daemon thread; return a deque of its last lines.

    Use it after `wait_for_line` on a process that logs, so the pipe never fills. The deque
    is what to show when something goes wrong later.
    """
    tail: deque[str] = deque(maxlen=keep_lines)
    stream = proc.stdout
    if stream is None:
        return tail

    def pump() -> None:
        try:
            for raw in iter(stream.readline, b""):
                tail.append(raw.decode(errors="replace").rstrip())
        except (OSError, ValueError):  # the stream was closed by terminate()
            pass

    threading.Thread(target=pump, name=f"drain-{proc.pid}", daemon=True).start()
    return tail
