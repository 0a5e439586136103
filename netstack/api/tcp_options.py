"""setsockopt/getsockopt for TCP sockets: SOL_SOCKET and IPPROTO_TCP options.

The values live in a `TcpSocketOptions` (netstack/stages/tcp/config.py). Before connect or
listen it is the socket's own; connect/listen hand the stage a copy, and from then on a
change is applied to the connection's (or listener's) options on the loop thread, which is
the only thread that reads them.

    SO_RCVBUF SO_SNDBUF       bytes (taken as given: Linux doubles them, we do not).
                              Setting SO_RCVBUF turns receive-buffer autotuning off for
                              the socket, as on Linux; reading it shows the tuned size.
    SO_REUSEADDR              bind() may take a port TIME-WAIT connections still use
    SO_KEEPALIVE              probe an idle connection (TCP_KEEPIDLE/INTVL/CNT tune it)
    SO_LINGER                 struct linger {int l_onoff; int l_linger;}: (1, 0) makes
                              close() abortive (RST). Other linger times close gracefully
                              without blocking, as if l_onoff were 0.
    TCP_NODELAY               turn Nagle's algorithm off
    TCP_CONGESTION            the congestion control by name, as bytes: b"newreno" or
                              b"cubic" (an unknown name is ENOENT). getsockopt with a
                              buffer length returns the name NUL-padded to 16 bytes (cut
                              to the length), as Linux does; accept() inherits it.
"""

from __future__ import annotations

import errno
import struct
import sys
from typing import Any

from netstack.api.constants import (
    IPPROTO_TCP,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_RCVBUF,
    SO_REUSEADDR,
    SO_SNDBUF,
    SOL_SOCKET,
    TCP_CONGESTION,
    TCP_KEEPCNT,
    TCP_KEEPIDLE,
    TCP_KEEPINTVL,
    TCP_NODELAY,
)
from netstack.stages.ports import os_error
from netstack.stages.tcp.config import TcpSocketOptions
from netstack.stages.tcp.congestion import ALGORITHMS

LINGER = struct.Struct("ii")  # struct linger, in the machine's byte order
CA_NAME_MAX = 16  # Linux's TCP_CA_NAME_MAX: a name is at most 15 bytes and a NUL

# (level, option) -> (TcpSocketOptions field, smallest value or None for a flag)
_FIELDS: dict[tuple[int, int], tuple[str, int | None]] = {
    (SOL_SOCKET, SO_RCVBUF): ("rcvbuf", 1),
    (SOL_SOCKET, SO_SNDBUF): ("sndbuf", 1),
    (SOL_SOCKET, SO_KEEPALIVE): ("keepalive", None),
    (IPPROTO_TCP, TCP_NODELAY): ("nodelay", None),
    (IPPROTO_TCP, TCP_KEEPIDLE): ("keepalive_idle", 1),
    (IPPROTO_TCP, TCP_KEEPINTVL): ("keepalive_interval", 1),
    (IPPROTO_TCP, TCP_KEEPCNT): ("keepalive_count", 1),
}


class TcpOptionsMixin:
    """The option calls of TcpSocket (which provides _cond, _conn, _listener, host...)."""

    _cond: Any
    _conn: Any
    _listener: Any
    host: Any

    def _init_options(self, options: TcpSocketOptions) -> None:
        self._options = options
        self._reuse_addr = False
        self._linger = (0, 0)

    def _inherit_options(self, parent: TcpOptionsMixin) -> None:
        """An accepted socket starts with its listener's options, as on Linux."""
        self._options = parent._options.copy()
        self._reuse_addr = parent._reuse_addr
        self._linger = parent._linger

    def setsockopt(self, level: int, option: int, value: Any, optlen: int | None = None) -> None:
        if level == SOL_SOCKET and option == SO_LINGER:
            with self._cond:
                self._check_open_locked()  # type: ignore[attr-defined]
            if isinstance(value, int):
                onoff, seconds = value, 0
            else:
                onoff, seconds = LINGER.unpack(bytes(value)[: LINGER.size])
            self._linger = (int(bool(onoff)), seconds)
            self._set_field("linger_zero", bool(onoff) and seconds == 0)
            return
        if level == IPPROTO_TCP and option == TCP_CONGESTION:
            with self._cond:
                self._check_open_locked()  # type: ignore[attr-defined]
            self._set_field("congestion_control", _congestion_name(value))
            return
        super().setsockopt(level, option, value)  # type: ignore[misc]

    def getsockopt(self, level: int, option: int, buflen: int | None = None) -> Any:
        if level == SOL_SOCKET and option == SO_LINGER:
            with self._cond:
                self._check_open_locked()  # type: ignore[attr-defined]
            if buflen is None:
                return self._linger[0]  # the first int, as the stdlib returns it
            return LINGER.pack(*self._linger)[:buflen]
        if level == IPPROTO_TCP and option == TCP_CONGESTION:
            with self._cond:
                self._check_open_locked()  # type: ignore[attr-defined]
            name = self._options.congestion_control.encode().ljust(CA_NAME_MAX, b"\0")
            if buflen is None:
                return int.from_bytes(name[:4], sys.byteorder)  # what Linux puts in an int
            return name[: max(0, min(buflen, CA_NAME_MAX))]
        return super().getsockopt(level, option, buflen)  # type: ignore[misc]

    def _getsockopt(self, level: int, option: int) -> int:
        if level == SOL_SOCKET and option == SO_REUSEADDR:
            return int(self._reuse_addr)
        field = _FIELDS.get((level, option))
        if field is None:
            raise os_error(errno.ENOPROTOOPT, f"option {option} at level {level}")
        options = self._options
        if field[0] == "rcvbuf" and self._conn is not None:
            options = self._conn.options  # autotuning may have grown it (an int: safe to read)
        return int(getattr(options, field[0]))

    def _setsockopt(self, level: int, option: int, value: int) -> None:
        if level == SOL_SOCKET and option == SO_REUSEADDR:
            self._reuse_addr = bool(value)
            return
        field = _FIELDS.get((level, option))
        if field is None:
            raise os_error(errno.ENOPROTOOPT, f"option {option} at level {level}")
        name, smallest = field
        if smallest is not None and value < smallest:
            raise os_error(errno.EINVAL, f"{name} must be at least {smallest}")
        setting: Any = bool(value) if smallest is None else value
        if name in ("keepalive_idle", "keepalive_interval"):
            setting = float(value)  # seconds, as the stage keeps them
        if name == "rcvbuf":
            self._set_field("rcvbuf_locked", True)  # the application chose: no autotuning
        self._set_field(name, setting)

    def _set_field(self, name: str, value: Any) -> None:
        setattr(self._options, name, value)
        target = self._conn if self._conn is not None else self._listener
        if target is None:
            return  # not handed to the stage yet: connect/listen copy our options

        def apply(stack: Any, now: float) -> None:
            setattr(target.options, name, value)
            if name == "congestion_control" and hasattr(target, "sender"):
                stack.tcp.change_congestion_control(target)
            changed = getattr(target, "options_changed", None)
            if changed is not None:
                changed(now)  # let the stage re-arm keepalive, flush on TCP_NODELAY...

        self.host.call(apply)


def _congestion_name(value: Any) -> str:
    """TCP_CONGESTION's value: bytes naming an algorithm, up to a NUL (OSError ENOENT if
    unknown, as on Linux; TypeError if not bytes-like, as the stdlib's setsockopt)."""
    if isinstance(value, int):
        raise os_error(errno.ENOENT, "TCP_CONGESTION takes a name, e.g. b'cubic'")
    raw = bytes(memoryview(value))[: CA_NAME_MAX - 1].split(b"\0", 1)[0]
    name = raw.decode("ascii", "replace")
    if name not in ALGORITHMS:
        raise os_error(errno.ENOENT, f"congestion control {name!r} (known: {', '.join(ALGORITHMS)})")
    return name
