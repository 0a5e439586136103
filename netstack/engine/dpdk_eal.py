"""The DPDK binding, in Python: the EAL and rte_ring (native/dpdk/ns_dpdk.c, via cffi).

DPDK is a library that takes a process over: `rte_eal_init` parses its own command line
(the "EAL arguments"), reserves memory, loads the poll-mode drivers and creates the
devices named by `--vdev`. It can be initialised once per process, and `rte_eal_cleanup`
releases everything at the end. `Eal.init(args)` does the first and `Eal.cleanup()` the
second, and turns DPDK's failures into one-line `ConfigError`s that say what to fix.

This machine has no NIC for DPDK, so the ports are DPDK's virtual devices (`net_tap`,
`net_af_packet`): real DPDK code paths (EAL, mempool, ethdev, rings), virtual wires.

`DpdkRing` is an rte_ring with the interface of our native `Ring` (netstack/native/ring.py),
so `Engine` drives either without knowing which. Its entries are rte_mbuf pointers.
"""

import contextlib
import errno
import itertools
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence

from netstack.errors import ConfigError

log = logging.getLogger(__name__)

try:
    from netstack.native._dpdk import ffi, lib

    AVAILABLE = True
    WHY_UNAVAILABLE = ""
except ImportError as e:  # no DPDK on this machine, or the binding was never built
    ffi = lib = None
    AVAILABLE = False
    WHY_UNAVAILABLE = (
        f"the DPDK binding is not built ({e}): install DPDK (as root, `make setup` installs "
        "Debian's dpdk and libdpdk-dev) and run `python native/dpdk/build.py`"
    )

# The defaults: no hugepages, no PCI scan, no shared config files (so tests and
# several stacks can run at once), 256 MB of ordinary memory, and one lcore (0): the thread
# that calls rte_eal_init is the main lcore. (--in-memory cannot be combined with --no-huge.)
DEFAULT_EAL_ARGS = ("--no-huge", "--no-pci", "--no-shconf", "-m", "256", "-l", "0")
PROGRAM_NAME = "netstack"  # argv[0]: the EAL prints it in its messages


def require_binding() -> None:
    if not AVAILABLE:
        raise ConfigError(WHY_UNAVAILABLE)


@contextlib.contextmanager
def captured_output():
    """Point fds 1 and 2 at a temporary file while DPDK talks; yield a function that returns
    what it said. The EAL prints usage and errors itself (to stdout, stderr and its log), and
    we want to show only the line that matters, not a 60-line usage text."""
    sys.stdout.flush()  # what Python has buffered belongs to the real stdout, not the file
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        text: list[str] = []
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield lambda: "".join(text)
        finally:
            lib.ns_dpdk_flush_stdio()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            text.append(sink.read().decode(errors="replace"))


class Eal:
    """The process's DPDK environment. Use `Eal.init(args)`; `Eal.current()` after that."""

    _current: "Eal | None" = None

    def __init__(self, args: tuple[str, ...], keepalive, output: str = "") -> None:
        self.args = args
        self.output = output  # what rte_eal_init printed: drivers explain failed probes here
        self._keepalive = keepalive  # the EAL may keep pointers into argv
        self.active = True

    @classmethod
    def current(cls) -> "Eal | None":
        return cls._current if cls._current is not None and cls._current.active else None

    @classmethod
    def init(cls, args: Sequence[str]) -> "Eal":
        """Initialise the EAL with `args` (without argv[0]). Raises ConfigError, naming the
        argument that failed when the EAL tells us which."""
        require_binding()
        args = tuple(args)
        if cls._current is not None:
            if cls._current.active and cls._current.args == args:
                return cls._current
            raise ConfigError("the DPDK EAL can be initialised only once per process")
        argv_items = [ffi.new("char[]", a.encode()) for a in (PROGRAM_NAME, *args)]
        argv = ffi.new("char *[]", argv_items)
        lib.ns_dpdk_log_to_stderr()
        with captured_output() as said:
            result = lib.ns_dpdk_eal_init(len(argv_items), argv)
            error = lib.ns_dpdk_errno()
        output = said()
        if result < 0:
            raise ConfigError(explain_eal_failure(args, error, output))
        log.debug("EAL up (%s):\n%s", " ".join(args), output)
        cls._current = Eal(args, (argv_items, argv), output)
        return cls._current

    def cleanup(self) -> None:
        """Release the EAL (memory, devices, threads). It cannot be initialised again."""
        if self.active:
            self.active = False
            lib.ns_dpdk_eal_cleanup()


def explain_eal_failure(args: tuple[str, ...], error: int, output: str) -> str:
    """One line out of what rte_eal_init printed: which argument failed, and why."""
    joined = " ".join(args)
    if error in (errno.EACCES, errno.EPERM) or "Permission denied" in output:
        return f"DPDK EAL init failed: permission denied (run as root) [EAL args: {joined}]"
    unknown = re.search(r"(?:unrecognized|invalid) option(?: --)? '?(-[^' ]+|\w)'?", output)
    if unknown:
        return f"DPDK EAL init failed: unknown EAL argument {unknown.group(1)!r} [EAL args: {joined}]"
    device = re.search(r"(?:failed to parse|Unable to parse) device ['\"]([^'\"]+)['\"]", output)
    if device:
        return (f"DPDK EAL init failed: no DPDK driver for vdev {device.group(1)!r} (in "
                f"--vdev; drivers that work here: net_tap, net_af_packet) [EAL args: {joined}]")
    reasons = [line.removeprefix("EAL: ").strip() for line in output.splitlines()
               if line.startswith("EAL: ") and re.search(
                   r"invalid|cannot|can't|unable|failed|error|unavailable|not ", line, re.I)
               and "FATAL" not in line and "Invalid 'command line'" not in line]
    culprit = _argument_named_in(args, reasons)
    reason = reasons[0] if reasons else (ffi.string(lib.ns_dpdk_strerror(error)).decode()
                                         if error else "unknown error")
    where = f"argument {culprit!r}: " if culprit else ""
    return f"DPDK EAL init failed: {where}{reason} [EAL args: {joined}]"


def explain_missing_port(vdev_args: str, output: str) -> str:
    """Why the EAL made no port for `--vdev=vdev_args`, from what its driver printed while
    probing (the EAL itself only says "Bus (vdev) probe failed", and goes on without it)."""
    driver_lines = [line.split("(): ", 1)[1].strip() for line in output.splitlines()
                    if "(): " in line and not line.startswith("vdev_probe")]
    said = "; ".join(driver_lines) or "no message from the driver"
    if os.geteuid() != 0 and re.search(r"not permitted|Permission denied|Could not open", said):
        return (f"dpdk:{vdev_args}: permission denied: DPDK's driver could not create the "
                f"device (run as root: it needs CAP_NET_ADMIN) [{said}]")
    if "probe failed" in output or driver_lines:
        return f"dpdk:{vdev_args}: DPDK could not create the device: {said}"
    return (f"dpdk:{vdev_args}: the EAL created no port {vdev_args.partition(',')[0]!r} "
            "(is --vdev given to it?)")


# What the EAL's messages call each option, for the ones that do not quote it.
OPTION_WORDS = {"-l": ("core list", "lcore"), "-m": ("memory", "-m"), "--vdev": ("vdev", "device"),
                "--file-prefix": ("prefix",), "--socket-mem": ("socket",), "-n": ("channel",)}


def _argument_named_in(args: tuple[str, ...], reasons: list[str]) -> str | None:
    text = " ".join(reasons).lower()
    for i, arg in enumerate(args):
        option, _, inline_value = arg.partition("=")
        value = inline_value or (args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("-") else "")
        if value and re.search(rf"\b{re.escape(value.lower())}\b", text):
            return f"{option} {value}" if not inline_value else arg
        if any(word in text for word in OPTION_WORDS.get(option, ())) and option.startswith("-"):
            return f"{option} {value}".strip() if not inline_value else arg
    return None


_ring_names = itertools.count()


class DpdkRing:
    """An rte_ring of pointer-sized values, with the same methods as netstack.native.ring.Ring.

    `single_producer`/`single_consumer` choose DPDK's SP/SC modes (RING_F_SP_ENQ,
    RING_F_SC_DEQ), which skip the compare-and-swap a shared end needs. The capacity is
    exactly `size` (RING_F_EXACT_SZ). Needs a running EAL: rings live in its memory.
    """

    def __init__(self, size: int, *, single_producer: bool = False,
                 single_consumer: bool = False, name: str | None = None) -> None:
        require_binding()
        if Eal.current() is None:
            raise RuntimeError("DpdkRing needs the EAL: call Eal.init() first")
        flags = ((lib.NS_DPDK_RING_SP if single_producer else 0)
                 | (lib.NS_DPDK_RING_SC if single_consumer else 0))
        # Rings are named objects in DPDK's memory; names must be unique in the process.
        self.name = name or f"ns_ring_{next(_ring_names)}"
        handle = lib.ns_dpdk_ring_create(self.name.encode(), size, flags)
        if handle == ffi.NULL:
            error = lib.ns_dpdk_errno()
            raise ValueError(f"cannot create rte_ring {self.name!r} of {size}: "
                             f"{ffi.string(lib.ns_dpdk_strerror(error)).decode()}")
        self.handle = handle
        self._capacity = lib.ns_dpdk_ring_capacity(handle)

    @property
    def capacity(self) -> int:
        return self._capacity

    def enqueue_burst(self, values: Iterable[int]) -> int:
        """Enqueue as many of `values` as fit, in order; how many went in."""
        values = list(values)
        if not values:
            return 0
        return lib.ns_dpdk_ring_enqueue_burst(self.handle, ffi.new("uintptr_t[]", values), len(values))

    def enqueue_bulk(self, values: Iterable[int]) -> bool:
        """All of `values`, or none of them."""
        values = list(values)
        if not values:
            return True
        return lib.ns_dpdk_ring_enqueue_bulk(self.handle, ffi.new("uintptr_t[]", values), len(values)) > 0

    def enqueue(self, value: int) -> bool:
        return self.enqueue_bulk((value,))

    def dequeue_burst(self, max_n: int) -> list[int]:
        """Up to `max_n` values, oldest first ([] when empty)."""
        n = min(max_n, self._capacity)
        if n <= 0:
            return []
        out = ffi.new("uintptr_t[]", n)
        got = lib.ns_dpdk_ring_dequeue_burst(self.handle, out, n)
        return ffi.unpack(out, got) if got else []

    def dequeue_bulk(self, n: int) -> list[int] | None:
        """Exactly `n` values, or None (and nothing taken) if fewer are there."""
        if n <= 0:
            return []
        if n > self._capacity:
            return None
        out = ffi.new("uintptr_t[]", n)
        got = lib.ns_dpdk_ring_dequeue_bulk(self.handle, out, n)
        return ffi.unpack(out, n) if got else None

    def dequeue(self) -> int | None:
        values = self.dequeue_bulk(1)
        return values[0] if values else None

    def count(self) -> int:
        return lib.ns_dpdk_ring_count(self.handle)

    def free_count(self) -> int:
        return lib.ns_dpdk_ring_free_count(self.handle)

    def __len__(self) -> int:
        return self.count()

    def close(self) -> None:
        if self.handle is not None and Eal.current() is not None:
            lib.ns_dpdk_ring_free(self.handle)
        self.handle = None

    def __repr__(self) -> str:
        return f"<DpdkRing {self.name} {self.count()}/{self._capacity}>"
