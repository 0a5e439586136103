"""The shared-memory segment a running stack offers its tools: `/dev/shm/netstack-<name>`.

Owned by the user who started the stack, mode 0600. Everything in it is at a fixed offset
and holds no pointers, so each process maps it wherever it likes:

    offset   size            what
    0        HEADER (268)    magic, protocol version, state, pid and its start time, sizes,
                             when the loop last made progress, garbage count, name, port,
                             addresses (the struct `_HEADER` below)
    512      1               the doorbell: a client sets it after queueing a request, the
                             loop looks at it once per pass (one byte read) and, when set,
                             clears it and drains the request rings then
    4096     SLOT x slots    per client slot: a lease byte (a POSIX record lock on it, which
                             the kernel drops when the client dies), the client's generation
                             and the generation the loop has served, then the request ring
                             (client -> loop) and the reply ring (loop -> client), each a
                             native ring (netstack/native/ring.py) of buffer indices
    ...      BUFFER x n      message buffers; slot s owns buffers [s*k, s*k + k)

A client claims a free slot by locking its lease byte, then bumps the slot's generation;
the loop, seeing a generation it has not served, empties both rings (whatever a dead client
left there is dropped) and marks it served. Only then does the client send. So a client
killed in the middle of a request costs nothing: its lock goes with it, and the next client
starts from a clean slot.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from netstack.errors import NetstackError
from netstack.native.ring import Ring, memory_size

MAGIC = b"NETSTACK"
PROTOCOL_VERSION = 1
DIRECTORY = Path(os.environ.get("NETSTACK_SHM_DIR", "/dev/shm"))
PREFIX = "netstack-"
SLOTS = 8
BUFFERS_PER_SLOT = 4
BUFFER_SIZE = 16384
RING_SIZE = 8  # more than BUFFERS_PER_SLOT: a ring never refuses a buffer of its slot
PAGE = 4096

STARTING, READY, CLOSING = 0, 1, 2
STATE_NAMES = {STARTING: "starting", READY: "ready", CLOSING: "closing"}

# magic, version, state, pid, pid's start time (clock ticks since boot, /proc/PID/stat),
# slots, buffers per slot, buffer size, ring size, started (unix time), progress (unix time
# of the loop's last pass), passes, garbage, name, port, addresses
_HEADER = struct.Struct("=8sIIIQIIIIddQQ32s64s96s")
HEADER_SIZE = _HEADER.size
# The fields the loop rewrites every pass, and where they sit in the header.
_PROGRESS = struct.Struct("=dQQ")
_PROGRESS_OFFSET = struct.calcsize("=8sIIIQIIIId")
_STATE_OFFSET = 12
DOORBELL_OFFSET = 512
_SLOT_HEADER = struct.Struct("=II")  # generation (client), served (loop)
SLOT_HEADER_SIZE = 64


@dataclass(frozen=True)
class Layout:
    slots: int = SLOTS
    buffers_per_slot: int = BUFFERS_PER_SLOT
    buffer_size: int = BUFFER_SIZE
    ring_size: int = RING_SIZE

    @property
    def ring_bytes(self) -> int:
        return memory_size(self.ring_size)

    @property
    def slot_bytes(self) -> int:
        return SLOT_HEADER_SIZE + 2 * self.ring_bytes

    def slot_offset(self, slot: int) -> int:
        return PAGE + slot * self.slot_bytes

    def buffer_offset(self, index: int) -> int:
        first = PAGE + self.slots * self.slot_bytes
        first = (first + PAGE - 1) // PAGE * PAGE
        return first + index * self.buffer_size

    @property
    def total(self) -> int:
        return self.buffer_offset(self.slots * self.buffers_per_slot)


DEFAULT_LAYOUT = Layout()


@dataclass(frozen=True)
class Header:
    version: int
    state: int
    pid: int
    pid_start: int
    layout: Layout
    started: float
    progress: float
    passes: int
    garbage: int
    name: str
    port: str
    addresses: str


def path_for(name: str) -> Path:
    return DIRECTORY / f"{PREFIX}{name}"


def check_name(name: str) -> str:
    if not name or len(name) > 32 or not all(c.isalnum() or c in "-_." for c in name):
        raise NetstackError(f"stack name {name!r}: 1 to 32 letters, digits, '-', '_' or '.'")
    return name


def default_name(port: str) -> str:
    """A stack's name from its port: tap:tap0 -> tap0, memory:lab -> memory-lab."""
    kind, _, rest = port.partition(":")
    base = rest.split(",")[0].split("?")[0] or kind
    name = base if kind in ("tap", "afpacket") else f"{kind}-{base}"
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:28]


def free_name(name: str) -> str:
    """`name`, or `name-2`, `name-3`... if a live stack has it (two ends of a memory cable)."""
    taken = {n for n, _ in running_stacks()}
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def process_start(pid: int) -> int:
    """When process `pid` started (clock ticks since boot), 0 if there is no such process:
    with the pid, it names one process for good (a pid alone may be reused)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22, after the command's name


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("utf-8", "replace")


def read_header(memory) -> Header:
    (magic, version, state, pid, pid_start, slots, per_slot, size, ring, started, progress,
     passes, garbage, name, port, addresses) = _HEADER.unpack_from(memory, 0)
    if magic != MAGIC:
        raise NetstackError("not a netstack control segment")
    return Header(version, state, pid, pid_start, Layout(slots, per_slot, size, ring), started,
                  progress, passes, garbage, _text(name), _text(port), _text(addresses))


def is_alive(header: Header) -> bool:
    return header.pid_start != 0 and process_start(header.pid) == header.pid_start


class Segment:
    """The mapped segment: the loop's side creates it (`create`), a tool opens it (`open`)."""

    def __init__(self, path: Path, fd: int, memory: mmap.mmap, layout: Layout) -> None:
        self.path, self.fd, self.memory, self.layout = path, fd, memory, layout
        self.view = memoryview(memory)  # buffers are slices of it

    @classmethod
    def create(cls, name: str, port: str, addresses: str,
               layout: Layout = DEFAULT_LAYOUT) -> Segment:
        path = path_for(check_name(name))
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if _segment_is_live(path):
                raise NetstackError(f"a stack named {name} is already running "
                                    f"(netstack ps; --name picks another name)") from None
            path.unlink(missing_ok=True)  # left by a stack that crashed
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.ftruncate(fd, layout.total)
        memory = mmap.mmap(fd, layout.total)
        pid = os.getpid()
        _HEADER.pack_into(memory, 0, MAGIC, PROTOCOL_VERSION, STARTING, pid, process_start(pid),
                          layout.slots, layout.buffers_per_slot, layout.buffer_size,
                          layout.ring_size, time.time(), 0.0, 0, 0, name.encode()[:32],
                          port.encode()[:64], addresses.encode()[:96])
        segment = cls(path, fd, memory, layout)
        for slot in range(layout.slots):
            segment.reset_slot(slot)
        return segment

    @classmethod
    def open(cls, path: Path) -> tuple[Segment, Header]:
        """Map an existing segment; PermissionError, FileNotFoundError, or NetstackError for a
        file that is not one."""
        fd = os.open(path, os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            if size < HEADER_SIZE:
                raise NetstackError(f"{path} is not a netstack control segment")
            memory = mmap.mmap(fd, size)
            header = read_header(memory)
            if header.layout.total > size:
                raise NetstackError(f"{path} is shorter than its header says")
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, memory, header.layout), header

    # --- the slots ------------------------------------------------------------------------
    def rings(self, slot: int, create: bool = False) -> tuple[Ring, Ring]:
        """(request ring, reply ring) of a slot: each has one producer and one consumer."""
        at = self.layout.slot_offset(slot) + SLOT_HEADER_SIZE
        size = self.layout.ring_size
        request = Ring.in_buffer(self.memory, at, size, single_producer=True,
                                 single_consumer=True, create=create)
        reply = Ring.in_buffer(self.memory, at + self.layout.ring_bytes, size,
                               single_producer=True, single_consumer=True, create=create)
        return request, reply

    def reset_slot(self, slot: int) -> tuple[Ring, Ring]:
        """Empty both rings of a slot (the loop does it, while the slot's client waits)."""
        return self.rings(slot, create=True)

    def generations(self, slot: int) -> tuple[int, int]:
        return _SLOT_HEADER.unpack_from(self.memory, self.layout.slot_offset(slot))

    def set_generation(self, slot: int, generation: int) -> None:
        struct.pack_into("=I", self.memory, self.layout.slot_offset(slot), generation)

    def set_served(self, slot: int, generation: int) -> None:
        struct.pack_into("=I", self.memory, self.layout.slot_offset(slot) + 4, generation)

    def lease_offset(self, slot: int) -> int:
        """The byte a client locks to hold the slot (POSIX record locks, fcntl.lockf)."""
        return self.layout.slot_offset(slot) + 8

    def buffer(self, index: int) -> memoryview:
        at = self.layout.buffer_offset(index)
        return self.view[at:at + self.layout.buffer_size]

    def owner_of(self, index: int) -> int | None:
        """The slot that owns buffer `index`, None for an index out of range."""
        if not 0 <= index < self.layout.slots * self.layout.buffers_per_slot:
            return None
        return index // self.layout.buffers_per_slot

    # --- the loop's bookkeeping -----------------------------------------------------------
    def ring_doorbell(self) -> None:
        self.memory[DOORBELL_OFFSET] = 1

    def answer_doorbell(self) -> bool:
        """True (and cleared) if a client rang since the last look. Cleared before the loop
        drains, so a request queued meanwhile rings again rather than waiting."""
        if self.memory[DOORBELL_OFFSET]:
            self.memory[DOORBELL_OFFSET] = 0
            return True
        return False

    def set_state(self, state: int) -> None:
        struct.pack_into("=I", self.memory, _STATE_OFFSET, state)

    def record_progress(self, passes: int, garbage: int) -> None:
        _PROGRESS.pack_into(self.memory, _PROGRESS_OFFSET, time.time(), passes, garbage)

    def close(self, remove: bool = False) -> None:
        if remove:
            self.path.unlink(missing_ok=True)
        try:
            self.view.release()
            self.memory.close()
        except BufferError:
            pass  # a ring or view still exported: the mapping goes with the process
        os.close(self.fd)


def _segment_is_live(path: Path) -> bool:
    try:
        segment, header = Segment.open(path)
    except (OSError, NetstackError):
        return False
    segment.close()
    return is_alive(header)


def running_stacks(unreadable: list[str] | None = None) -> list[tuple[str, Header]]:
    """(name, header) of every live stack whose segment this user can read; a segment left
    by a stack that died is removed when we may, and never listed. The names of segments we
    may not open (another user's) are appended to `unreadable` if given."""
    found = []
    for path in sorted(DIRECTORY.glob(f"{PREFIX}*")):
        try:
            segment, header = Segment.open(path)
        except PermissionError:
            if unreadable is not None:
                unreadable.append(path.name[len(PREFIX):])
            continue
        except (OSError, NetstackError):
            continue
        segment.close()
        if is_alive(header):
            found.append((path.name[len(PREFIX):], header))
        else:
            try:
                path.unlink()
            except OSError:
                pass
    return found
