"""Zero-copy send: the application writes its payload straight into pool mbufs.

    buf = sock.zc_alloc(1 << 20)          # pool mbufs, one segment's payload each
    for view in buf.views():              # writable memoryviews over those mbufs
        source.readinto(view)
        view.release()                    # (or let them go out of scope)
    sock.zc_send(buf)                     # all of it, or BlockingIOError / a wait
    ...
    sock.zc_completions()                 # [(first, last, copied)]: sends acknowledged

F-Stack's ff_zc_mbuf_get / ff_zc_mbuf_write / ff_write do the same in C. Each mbuf holds at
most one segment's payload (the connection's MSS less its options) after HEADROOM, so TCP
can put its, IP's and Ethernet's headers in front of it and hand that very mbuf to the port.
The send buffer keeps the mbuf until the peer acknowledges its bytes: a retransmission
writes a fresh header into the same mbuf (Mbuf.refcnt tells when the port is done with the
last copy). What still copies is counted in the ledger (`netstack stat 'copy.*'`):
`copy.resegment` when a segment does not match one mbuf (the window cut it short, or it is
resent while its last copy is still in flight).

Rules, each with its error:
- `zc_send` is all or nothing: a buffer larger than what the send buffer can take now gets
  BlockingIOError on a non-blocking socket (a blocking one waits), and the application
  keeps it intact (F-Stack's issue #712: a large zero-copy send crashed or hung);
- a view still exported when `zc_send` is called is a BufferError: the application must
  not be able to write into bytes that are already on their way;
- after `zc_send` the buffer belongs to the stack: any use of it raises ValueError;
- a buffer never sent goes back to the pool with `release()` (or when collected).
"""

from __future__ import annotations

import errno
import weakref
from collections import deque
from typing import Any

from netstack.mbuf import HEADROOM, Mbuf
from netstack.stages.ports import os_error

# Buffers the application holds, not yet sent or released (`netstack pool` counts them).
_lent: weakref.WeakSet[ZeroCopyBuffer] = weakref.WeakSet()


def lent_mbufs(pool: Any) -> int:
    """How many of `pool`'s mbufs applications hold in zero-copy buffers right now."""
    for _ in range(10):
        try:
            buffers = list(_lent)
            break
        except RuntimeError:  # another thread changed the set meanwhile: look again
            continue
    else:
        return 0
    return sum(len(b._mbufs) for b in buffers if b._pool is pool and b._state == "filling")


class ZeroCopyBuffer:
    """Pool mbufs the application fills in place (see the module docstring)."""

    def __init__(self, pool: Any, mbufs: list[Mbuf], sizes: list[int], segment: int) -> None:
        # Segments are cut `segment` bytes apart from where the buffer starts: a buffer
        # whose size is a multiple of it (or the last one sent) goes out without a copy.
        self.segment = segment
        self._pool = pool
        self._mbufs = mbufs
        self._sizes = sizes
        self._state = "filling"  # then "sent" or "released"
        _lent.add(self)

    def __len__(self) -> int:
        return sum(self._sizes)

    def views(self) -> list[memoryview]:
        """One writable view per mbuf, over exactly its payload bytes."""
        self._check()
        return [memoryview(m.buf)[HEADROOM:HEADROOM + n] for m, n in zip(self._mbufs, self._sizes,
                                                                          strict=True)]

    def release(self) -> None:
        """Give the mbufs back unsent."""
        if self._state == "filling":
            self._state = "released"
            for m in self._mbufs:
                self._pool.free(m)
            self._mbufs = []

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to return to
            pass

    # --- for zc_send ------------------------------------------------------------------------
    def _check(self) -> None:
        if self._state != "filling":
            raise ValueError(f"this zero-copy buffer was {self._state}: it is not yours any "
                             "more (allocate another with zc_alloc)")

    def _still_exported(self) -> bool:
        """Does the application still hold a view into one of the mbufs? A bytearray with
        exports refuses to change size, so a harmless grow-and-shrink tells."""
        for m in self._mbufs:
            try:
                m.buf.append(0)
                m.buf.pop()
            except BufferError:
                return True
        return False

    def _take(self) -> list[tuple[Mbuf, int]]:
        taken = list(zip(self._mbufs, self._sizes, strict=True))
        self._state, self._mbufs = "sent", []
        return taken


class ZeroCopySend:
    """One zc_send, told as each of its mbufs is acknowledged (ZeroCopyExtent.owner)."""

    __slots__ = ("number", "left", "copied", "done")

    def __init__(self, number: int, parts: int, done: deque) -> None:
        self.number = number
        self.left = parts
        self.copied = False
        self.done = done

    def completed(self, extent: Any) -> None:
        """On the loop thread: one mbuf acknowledged (or its connection gone)."""
        self.copied |= extent.sent_copied
        self.left -= 1
        if self.left == 0:
            self.done.append((self.number, self.copied))


def allocate(pool: Any, size: int, segment: int) -> ZeroCopyBuffer:
    """`size` bytes of pool mbufs, `segment` bytes of payload each (the last may be less)."""
    if size <= 0:
        raise ValueError("zc_alloc needs a positive size")
    if not hasattr(pool, "retain"):
        raise os_error(errno.EOPNOTSUPP, "zero-copy needs mbufs with a reference count "
                                         "(the Python engine's pool)")
    sizes = [min(segment, size - at) for at in range(0, size, segment)]
    mbufs: list[Mbuf] = []
    for _ in sizes:
        m = pool.alloc()
        if m is None or not isinstance(m.buf, bytearray):
            for taken in mbufs + ([m] if m is not None else []):
                pool.free(taken)
            if m is not None:
                raise os_error(errno.EOPNOTSUPP, "zero-copy needs the Python engine's pool")
            raise os_error(errno.ENOBUFS, f"the mbuf pool cannot spare {len(sizes)} mbufs now")
        mbufs.append(m)
    return ZeroCopyBuffer(pool, mbufs, sizes, segment)


def merge_completions(done: deque) -> list[tuple[int, int, bool]]:
    """Take what was acknowledged, as MSG_ZEROCOPY reports it: ranges of send numbers
    [first, last] with one "copied" flag (a range breaks where the flag changes)."""
    finished = sorted(done.popleft() for _ in range(len(done)))
    ranges: list[tuple[int, int, bool]] = []
    for number, copied in finished:
        if ranges and ranges[-1][1] == number - 1 and ranges[-1][2] == copied:
            ranges[-1] = (ranges[-1][0], number, copied)
        else:
            ranges.append((number, number, copied))
    return ranges
