"""System calls, over netstack's own sockets.

Every socket is non-blocking underneath: the runner is one thread in virtual time, and a
thread that blocked would stop the clock. A call the script made on a blocking socket that
cannot finish yet becomes `Pending`: the runner goes on with the script's other events and
tries it again after each one, as packetdrill's blocking calls run on a thread of their own.

File descriptors are the script's: the first socket is 3, as a fresh process gets, then the
lowest free number, as the kernel hands them out.
"""

from __future__ import annotations

import errno as errno_module
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netstack.api import constants as c
from netstack.drill.packets import Conversation
from netstack.drill.script import ELLIPSIS, Array, Call, Flags, Struct, Symbol

FIRST_FD = 3
MAX_BUFFER = 16 * 2**20  # the largest read or write a script may ask for
O_RDWR = 0o2
O_NONBLOCK = 0o4000
F_GETFL, F_SETFL = 3, 4
SOL_TCP = 6
SOCK_NONBLOCK = 0o4000
IPPROTO_UDP = 17

CONSTANTS: dict[str, int] = {
    "AF_INET": c.AF_INET, "PF_INET": c.AF_INET, "SOCK_STREAM": c.SOCK_STREAM,
    "SOCK_DGRAM": c.SOCK_DGRAM, "SOCK_NONBLOCK": SOCK_NONBLOCK,
    "IPPROTO_TCP": c.IPPROTO_TCP, "IPPROTO_UDP": IPPROTO_UDP, "IPPROTO_IP": 0,
    "SOL_SOCKET": c.SOL_SOCKET, "SOL_TCP": SOL_TCP,
    "SO_REUSEADDR": c.SO_REUSEADDR, "SO_RCVBUF": c.SO_RCVBUF, "SO_SNDBUF": c.SO_SNDBUF,
    "SO_KEEPALIVE": c.SO_KEEPALIVE, "SO_LINGER": c.SO_LINGER, "SO_ERROR": c.SO_ERROR,
    "SO_TYPE": c.SO_TYPE, "TCP_NODELAY": c.TCP_NODELAY, "TCP_KEEPIDLE": c.TCP_KEEPIDLE,
    "TCP_KEEPINTVL": c.TCP_KEEPINTVL, "TCP_KEEPCNT": c.TCP_KEEPCNT, "TCP_INFO": c.TCP_INFO,
    "TCP_CONGESTION": c.TCP_CONGESTION,
    "SHUT_RD": c.SHUT_RD, "SHUT_WR": c.SHUT_WR, "SHUT_RDWR": c.SHUT_RDWR,
    "F_GETFL": F_GETFL, "F_SETFL": F_SETFL, "O_RDWR": O_RDWR, "O_NONBLOCK": O_NONBLOCK,
    "POLLIN": c.POLLIN, "POLLOUT": c.POLLOUT, "POLLERR": c.POLLERR, "POLLHUP": c.POLLHUP,
    "POLLNVAL": c.POLLNVAL, "POLLPRI": c.POLLPRI, "POLLRDHUP": c.POLLRDHUP,
    "MSG_PEEK": c.MSG_PEEK, "MSG_DONTWAIT": c.MSG_DONTWAIT,
}
# Linux's numbers for tcpi_state and tcpi_ca_state, as scripts compare them.
TCP_STATES = {"TCP_ESTABLISHED": 1, "TCP_SYN_SENT": 2, "TCP_SYN_RECV": 3, "TCP_FIN_WAIT1": 4,
              "TCP_FIN_WAIT2": 5, "TCP_TIME_WAIT": 6, "TCP_CLOSE": 7, "TCP_CLOSE_WAIT": 8,
              "TCP_LAST_ACK": 9, "TCP_LISTEN": 10, "TCP_CLOSING": 11,
              "TCP_CA_Open": 0, "TCP_CA_Disorder": 1, "TCP_CA_CWR": 2, "TCP_CA_Recovery": 3,
              "TCP_CA_Loss": 4}
CONSTANTS.update(TCP_STATES)
# Errno names as values (getsockopt(..., SO_ERROR, [ECONNREFUSED], [4])), as packetdrill has.
CONSTANTS.update({name: code for code, name in errno_module.errorcode.items()
                  if name not in CONSTANTS})
POLL_NAMES = ("POLLIN", "POLLPRI", "POLLOUT", "POLLERR", "POLLHUP", "POLLNVAL", "POLLRDHUP")


class SyscallProblem(Exception):
    """The script asked for something the runner cannot do; `unsupported` says whether it
    is a feature the runner lacks (reported "unsupported") or a plain mistake."""

    def __init__(self, message: str, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


@dataclass
class Outcome:
    """What a call returned: its value, the errno name when it failed (value -1), and a
    difference from what the script expected in an out-argument (getsockopt, poll)."""

    value: int
    errno: str | None = None
    problem: str | None = None


@dataclass
class Pending:
    """A blocking call that cannot finish yet: `retry(now)` gives its Outcome or None."""

    retry: Callable[[float], Outcome | None]
    deadline: float | None = None  # a poll's timeout: the runner wakes the call then


@dataclass
class OpenFile:
    sock: Any
    nonblocking: bool = False


def errno_name(exc: OSError) -> str:
    code = exc.errno if exc.errno is not None else errno_module.EIO
    return errno_module.errorcode.get(code, f"E{code}")


def failed(exc: OSError) -> Outcome:
    return Outcome(-1, errno_name(exc))


class Syscalls:
    """The system calls of one script, on one host (netstack.api.Host)."""

    def __init__(self, host: Any, conversation: Conversation, bind_port: int,
                 connect_port: int) -> None:
        self.host = host
        self.conversation = conversation
        self.bind_port = bind_port
        self.connect_port = connect_port
        self.files: dict[int, OpenFile] = {}
        self.last_tcp: Any = None  # the socket %{ }% blocks read tcpi_* from

    # --- arguments ----------------------------------------------------------------------

    def value(self, arg: Any) -> Any:
        """An argument's value: ints and strings as they are, symbols from CONSTANTS."""
        if isinstance(arg, (int, str)):
            return arg
        if isinstance(arg, Symbol):
            if arg.name not in CONSTANTS:
                raise SyscallProblem(f"constant {arg.name}", unsupported=True)
            return CONSTANTS[arg.name]
        if isinstance(arg, Flags):
            result = 0
            for part in arg.parts:
                result |= self.value(part)
            return result
        if isinstance(arg, Call):
            if arg.name == "htons" and len(arg.args) == 1:
                return self.value(arg.args[0])
            raise SyscallProblem(f"function {arg.name}() in an argument", unsupported=True)
        raise SyscallProblem(f"argument {arg!r} where a number belongs")

    def _file(self, arg: Any) -> OpenFile:
        fd = self.value(arg)
        if fd not in self.files:
            raise _Failed(errno_module.EBADF)
        return self.files[fd]

    def _new_fd(self, sock: Any, nonblocking: bool = False) -> int:
        fd = FIRST_FD
        while fd in self.files:
            fd += 1
        self.files[fd] = OpenFile(sock, nonblocking)
        return fd

    # --- dispatch -----------------------------------------------------------------------

    def call(self, name: str, args: tuple[Any, ...], now: float) -> Outcome | Pending:
        handler = getattr(self, f"sys_{name}", None)
        if handler is None:
            raise SyscallProblem(f"system call {name}()", unsupported=True)
        try:
            return handler(now, *args)
        except TypeError as exc:
            if "positional argument" in str(exc):
                raise SyscallProblem(f"{name}() with {len(args)} arguments") from None
            raise
        except _Failed as exc:
            return Outcome(-1, errno_module.errorcode[exc.code])
        except OSError as exc:
            return failed(exc)
        except (ValueError, OverflowError):  # a negative size, a value out of range
            return Outcome(-1, "EINVAL")

    def _blocking(self, entry: OpenFile, attempt: Callable[[], Outcome], flags: int = 0,
                  now: float = 0.0) -> Outcome | Pending:
        """Run `attempt`; if it would block on a blocking socket, wait for it."""
        try:
            return attempt()
        except BlockingIOError as exc:
            if entry.nonblocking or flags & c.MSG_DONTWAIT:
                return failed(exc)

        def retry(now: float) -> Outcome | None:
            try:
                return attempt()
            except BlockingIOError:
                return None
            except OSError as exc:
                return failed(exc)
        return Pending(retry)

    # --- sockets ------------------------------------------------------------------------

    def sys_socket(self, now: float, domain: Any, kind: Any, proto: Any = 0) -> Outcome:
        if domain is not ELLIPSIS and self.value(domain) != c.AF_INET:
            raise SyscallProblem("a socket family other than AF_INET", unsupported=True)
        kind_value = self.value(kind)
        nonblocking = bool(kind_value & SOCK_NONBLOCK)
        kind_value &= ~SOCK_NONBLOCK
        if kind_value not in (c.SOCK_STREAM, c.SOCK_DGRAM):
            raise SyscallProblem(f"socket type {kind_value}", unsupported=True)
        sock = self.host.socket(c.AF_INET, kind_value)
        sock.setblocking(False)
        return Outcome(self._new_fd(sock, nonblocking))

    def sys_bind(self, now: float, fd: Any, address: Any, length: Any = ELLIPSIS) -> Outcome:
        entry = self._file(fd)
        self._plain_address(address, "bind")
        entry.sock.bind((str(self.conversation.local_ip), self.bind_port))
        self.conversation.local_port = self.bind_port
        return Outcome(0)

    def sys_listen(self, now: float, fd: Any, backlog: Any) -> Outcome:
        self._file(fd).sock.listen(self.value(backlog))
        return Outcome(0)

    def sys_accept(self, now: float, fd: Any, address: Any = ELLIPSIS,
                   length: Any = ELLIPSIS) -> Outcome | Pending:
        entry = self._file(fd)

        def attempt() -> Outcome:
            sock, _ = entry.sock.accept()
            sock.setblocking(False)
            self.last_tcp = sock
            return Outcome(self._new_fd(sock))
        return self._blocking(entry, attempt)

    def sys_connect(self, now: float, fd: Any, address: Any, length: Any = ELLIPSIS
                    ) -> Outcome | Pending:
        entry = self._file(fd)
        self._plain_address(address, "connect")
        target = (str(self.conversation.remote_ip), self.connect_port)
        self.conversation.remote_port = self.connect_port
        if entry.sock.type == c.SOCK_DGRAM:  # no handshake: it only sets the destination
            entry.sock.connect(target)
            return Outcome(0)
        code = entry.sock.connect_ex(target)
        if entry.sock.type == c.SOCK_STREAM:
            self.last_tcp = entry.sock
        if code == 0:
            return Outcome(0)
        if code != errno_module.EINPROGRESS or entry.nonblocking:
            return Outcome(-1, errno_module.errorcode[code])

        def retry(now: float) -> Outcome | None:
            code = entry.sock.connect_ex(target)
            if code == errno_module.EALREADY:
                return None
            if code in (0, errno_module.EISCONN):
                return Outcome(0)
            return Outcome(-1, errno_module.errorcode[code])
        return Pending(retry)

    def _plain_address(self, address: Any, call: str) -> None:
        if address is not ELLIPSIS:
            raise SyscallProblem(f"an explicit address in {call}() (write ...)", unsupported=True)

    # --- data ---------------------------------------------------------------------------

    def _count(self, arg: Any) -> int:
        count = self.value(arg)
        if not isinstance(count, int) or count > MAX_BUFFER:
            raise SyscallProblem(f"a buffer of {count} bytes (at most {MAX_BUFFER})",
                                 unsupported=True)
        if count < 0:
            raise _Failed(errno_module.EFAULT)  # Linux: a size_t that large is a bad buffer
        return count

    def sys_write(self, now: float, fd: Any, buffer: Any, count: Any) -> Outcome | Pending:
        return self._send(self._file(fd), self._count(count), 0)

    def sys_send(self, now: float, fd: Any, buffer: Any, count: Any, flags: Any = 0
                 ) -> Outcome | Pending:
        return self._send(self._file(fd), self._count(count), self.value(flags))

    def sys_sendto(self, now: float, fd: Any, buffer: Any, count: Any, flags: Any = 0,
                   address: Any = ELLIPSIS, length: Any = ELLIPSIS) -> Outcome | Pending:
        entry = self._file(fd)
        if entry.sock.type == c.SOCK_DGRAM:
            self._plain_address(address, "sendto")
            target = (str(self.conversation.remote_ip), self.conversation.remote_port)
            sent = entry.sock.sendto(bytes(self._count(count)), target)
            return Outcome(sent)
        return self._send(entry, self._count(count), self.value(flags))

    def _send(self, entry: OpenFile, count: int, flags: int) -> Outcome | Pending:
        if entry.sock.type == c.SOCK_DGRAM:
            return Outcome(entry.sock.send(bytes(count)))
        sent = 0

        def attempt() -> Outcome:
            # A blocking write returns once all of it is in the send buffer.
            nonlocal sent
            while True:
                try:
                    sent += entry.sock.send(bytes(count - sent), flags)
                except BlockingIOError:
                    if sent and (entry.nonblocking or flags & c.MSG_DONTWAIT):
                        return Outcome(sent)
                    raise
                if sent >= count:
                    return Outcome(sent)
        return self._blocking(entry, attempt, flags)

    def sys_read(self, now: float, fd: Any, buffer: Any, count: Any) -> Outcome | Pending:
        return self._recv(self._file(fd), self._count(count), 0)

    def sys_recv(self, now: float, fd: Any, buffer: Any, count: Any, flags: Any = 0
                 ) -> Outcome | Pending:
        return self._recv(self._file(fd), self._count(count), self.value(flags))

    def sys_recvfrom(self, now: float, fd: Any, buffer: Any, count: Any, flags: Any = 0,
                     address: Any = ELLIPSIS, length: Any = ELLIPSIS) -> Outcome | Pending:
        return self._recv(self._file(fd), self._count(count), self.value(flags))

    def _recv(self, entry: OpenFile, count: int, flags: int) -> Outcome | Pending:
        def attempt() -> Outcome:
            if entry.sock.type == c.SOCK_DGRAM:
                data, (ip, port) = entry.sock.recvfrom(count, flags)
                self.conversation.remote_port = port
            else:
                data = entry.sock.recv(count, flags)
            return Outcome(len(data))
        return self._blocking(entry, attempt, flags)

    # --- ending -------------------------------------------------------------------------

    def sys_shutdown(self, now: float, fd: Any, how: Any) -> Outcome:
        self._file(fd).sock.shutdown(self.value(how))
        return Outcome(0)

    def sys_close(self, now: float, fd: Any) -> Outcome:
        entry = self._file(fd)
        del self.files[self.value(fd)]
        entry.sock.close()
        return Outcome(0)

    def close_all(self) -> None:
        for entry in self.files.values():
            entry.sock.close()
        self.files.clear()

    # --- options ------------------------------------------------------------------------

    def sys_setsockopt(self, now: float, fd: Any, level: Any, option: Any, value: Any,
                       length: Any = ELLIPSIS) -> Outcome:
        entry = self._file(fd)
        entry.sock.setsockopt(self.value(level), self.value(option), self._option_value(value))
        return Outcome(0)

    def _option_value(self, value: Any) -> Any:
        if isinstance(value, Array) and len(value.items) == 1:
            return self.value(value.items[0])
        if isinstance(value, Struct) and value.get("l_onoff") is not None:
            return struct.pack("ii", self.value(value.get("l_onoff")),
                               self.value(value.get("l_linger", 0)))
        if isinstance(value, str):
            return value.encode()
        return self.value(value)

    def sys_getsockopt(self, now: float, fd: Any, level: Any, option: Any, value: Any,
                       length: Any = ELLIPSIS) -> Outcome:
        entry = self._file(fd)
        level_n, option_n = self.value(level), self.value(option)
        if level_n in (c.IPPROTO_TCP, SOL_TCP) and option_n == c.TCP_INFO:
            info = entry.sock.info()
            if isinstance(value, Struct):
                for name, want in value.fields:
                    if not hasattr(info, name):
                        raise SyscallProblem(f"TCP_INFO field {name}", unsupported=True)
                    got, wanted = getattr(info, name), self.value(want)
                    if got != wanted:
                        return Outcome(0, problem=f"{name} is {got}, wanted {wanted}")
            return Outcome(0)
        if level_n in (c.IPPROTO_TCP, SOL_TCP) and option_n == c.TCP_CONGESTION:
            got = entry.sock.getsockopt(c.IPPROTO_TCP, c.TCP_CONGESTION, 16)
            name = bytes(got).rstrip(b"\0").decode()
            if isinstance(value, str) and name != value:
                return Outcome(0, problem=f"TCP_CONGESTION is {name!r}, wanted {value!r}")
            return Outcome(0)
        got = entry.sock.getsockopt(level_n, option_n)
        if isinstance(value, Array) and len(value.items) == 1 and value.items[0] is not ELLIPSIS:
            wanted = self.value(value.items[0])
            if got != wanted:
                return Outcome(0, problem=f"the option's value is [{got}], wanted [{wanted}]")
        elif value is not ELLIPSIS and not isinstance(value, Array):
            raise SyscallProblem("getsockopt's value must be [N] or ...")
        return Outcome(0)

    def sys_fcntl(self, now: float, fd: Any, command: Any, flags: Any = 0) -> Outcome:
        entry = self._file(fd)
        command_n = self.value(command)
        if command_n == F_GETFL:
            return Outcome(O_RDWR | (O_NONBLOCK if entry.nonblocking else 0))
        if command_n == F_SETFL:
            entry.nonblocking = bool(self.value(flags) & O_NONBLOCK)
            return Outcome(0)
        raise SyscallProblem(f"fcntl command {command_n}", unsupported=True)

    def sys_poll(self, now: float, fds: Any, count: Any, timeout: Any) -> Outcome | Pending:
        if not isinstance(fds, Array):
            raise SyscallProblem("poll's first argument must be [{fd=N, events=...}, ...]")
        polled = []
        for item in fds.items:
            if not isinstance(item, Struct):
                raise SyscallProblem("poll's entries are {fd=N, events=..., revents=...}")
            polled.append((self.value(item.get("fd")), self.value(item.get("events", 0)),
                           item.get("revents")))
        timeout_ms = self.value(timeout)
        deadline = None if timeout_ms < 0 else now + timeout_ms / 1000

        def attempt(now: float, final: bool) -> Outcome | None:
            ready = 0
            problem = None
            for fd, events, want in polled:
                entry = self.files.get(fd)
                revents = c.POLLNVAL if entry is None else entry.sock.readiness() & (
                    events | c.POLLERR | c.POLLHUP | c.POLLNVAL)
                ready += bool(revents)
                if want is not None and problem is None:
                    wanted = self.value(want)
                    if revents != wanted:
                        problem = (f"fd {fd}: revents is {poll_names(revents)}, wanted "
                                   f"{poll_names(wanted)}")
            if ready or final:
                return Outcome(ready, problem=problem)
            return None

        outcome = attempt(now, deadline is not None and deadline <= now)
        if outcome is not None:
            return outcome

        def retry(now: float) -> Outcome | None:
            return attempt(now, deadline is not None and now >= deadline - 1e-9)
        return Pending(retry, deadline)


def poll_names(events: int) -> str:
    names = [n for n in POLL_NAMES if events & CONSTANTS[n]]
    return "|".join(names) if names else "0"


class _Failed(Exception):
    def __init__(self, code: int) -> None:
        self.code = code
