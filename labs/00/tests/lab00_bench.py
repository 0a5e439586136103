"""What lab 0's tests are written with: two netstack stacks on one emulated cable in
virtual time, the student's webget on one, a scripted HTTP server on the other.

- `Bench`: the network (a Simulator, two SimHosts, a 1 ms link each way), the transcript,
  and `get(...)`, which runs the student's `webget.get` under a CPU budget, with its printed
  output kept under the step.
- `Sockets`: what the student's `get` receives as `sockets`: `socket(AF_INET,
  SOCK_STREAM)` gives a *blocking* socket whose waits run the simulated network until the
  socket is ready (or a virtual timeout passes), so ordinary blocking code runs, in
  virtual time, deterministically, with no thread.
- `Server`: accepts one connection, reads the request up to its empty line, then plays a
  script: bytes to send (each its own send, so its own segment when small), pauses, and a
  close (or holding the connection open).

The client is the variant's `our_ip`, the server its `peer_ip`; ports come from the variant.
"""

from __future__ import annotations

import errno
import io
import traceback
from dataclasses import dataclass
from typing import Any

from labs.kit import Variant, student_module
from labs.kit.checks import rerun_hint
from labs.kit.stack import (
    StepOverBudget,
    captured_output,
    keep_for_pcap,
    limit_cpu,
    write_frames_pcap,
)
from netstack.api.constants import (
    AF_INET,
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLOUT,
    SO_ERROR,
    SOCK_STREAM,
    SOL_SOCKET,
    TCP_NODELAY,
)
from netstack.sim.events import Simulator
from netstack.sim.link.spec import LinkSpec
from netstack.sim.topology import NetworkBuilder
from netstack.stages.ports import os_error
from netstack.stages.tcp.config import TcpConfig
from netstack.testing import TranscriptMismatch

IPPROTO_TCP = 6
TICK = 0.001  # how often the scripted server looks at its socket (virtual seconds)
WAIT_LIMIT = 30.0  # virtual seconds a blocking call waits before TimeoutError
CALL_CPU_SECONDS = 5.0  # the student's whole get() is one step; large bodies take a while
LINK_DELAY = 0.001


def webget() -> Any:
    """The module under test: the student's webget.py, or the reference."""
    return student_module("webget", reference="labs.reference.webget")


def short(data: bytes, limit: int = 72) -> str:
    text = repr(bytes(data[:limit]))
    return text + (f"... ({len(data)} bytes)" if len(data) > limit else "")


# --- the script a server plays ---------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    seconds: float


CLOSE = "close"  # close the connection (a FIN after what was sent)
HOLD = "hold"  # keep it open until the client closes


def response(status: str = "200 OK", body: bytes = b"", headers: list[str] | None = None,
             version: str = "HTTP/1.1") -> bytes:
    """A whole response; `headers` None means one Content-Length header."""
    if headers is None:
        headers = [f"Content-Length: {len(body)}"]
    head = "".join(f"{h}\r\n" for h in [f"{version} {status}", *headers]) + "\r\n"
    return head.encode("latin-1") + body


def chunked(body: bytes, size: int) -> bytes:
    """`body` in chunks of `size` bytes, with the last-chunk and no trailer."""
    out = bytearray()
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return bytes(out + b"0\r\n\r\n")


def pieces(data: bytes, size: int, pause: float = 0.005) -> list[Any]:
    """`data` as sends of `size` bytes with a pause between them: one segment each."""
    script: list[Any] = []
    for i in range(0, len(data), size):
        script += [data[i : i + size], Pause(pause)]
    return script[:-1]


class Server:
    """Listens on (peer_ip, port); serves one connection with `script`."""

    def __init__(self, bench: Bench, port: int, script: list[Any]) -> None:
        self.bench = bench
        self.port = port
        self.script = list(script)
        self.request = b""
        self.got_request = False
        self.client_closed = False
        self.closed = False
        self.conn: Any = None
        self._sending = b""
        self._resume_at = 0.0
        self.listener = bench.server.host.socket(AF_INET, SOCK_STREAM)
        self.listener.setblocking(False)
        self.listener.bind(("0.0.0.0", port))
        self.listener.listen(8)
        bench.sim.after(TICK, self.tick)

    def tick(self) -> None:
        if self.closed:
            return
        try:
            self._step()
        finally:
            if not self.closed:
                self.bench.sim.after(TICK, self.tick)

    def _step(self) -> None:
        log = self.bench.log
        if self.conn is None:
            try:
                self.conn, peer = self.listener.accept()
            except BlockingIOError:
                return
            self.conn.setblocking(False)
            self.conn.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
            log(f"server    accepted a connection from {peer[0]}:{peer[1]}")
        if not self.got_request:
            self._read_request()
            return
        if self._sending:
            self._send_some()
            return
        if self.bench.sim.now < self._resume_at:
            return
        while self.script and not self._sending:
            item = self.script.pop(0)
            if isinstance(item, Pause):
                self._resume_at = self.bench.sim.now + item.seconds
                return
            if item == CLOSE:
                self.close("closed the connection")
                return
            if item == HOLD:
                self.script.insert(0, HOLD)
                self._watch_for_client_close()
                return
            self._sending = bytes(item)
            log(f"server    sends {short(self._sending)}")
            self._send_some()

    def _read_request(self) -> None:
        try:
            data = self.conn.recv(65536)
        except BlockingIOError:
            return
        if not data:
            self.bench.log("server    the client closed before its request was complete: "
                           f"{short(self.request)}")
            self.client_closed = True
            self.close("closed the connection")
            return
        self.request += data
        if b"\r\n\r\n" in self.request:
            self.got_request = True
            self.bench.log(f"server    received the request: {short(self.request, 160)}")

    def _send_some(self) -> None:
        try:
            sent = self.conn.send(self._sending)
        except BlockingIOError:
            return
        except OSError as exc:
            self.bench.log(f"server    send failed: {exc}")
            self.close("gave up")
            return
        self._sending = self._sending[sent:]

    def _watch_for_client_close(self) -> None:
        try:
            data = self.conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.client_closed = True
            self.close("saw the client close; closed too")

    def close(self, what: str) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()
        self.closed = True
        self.bench.log(f"server    {what}")


# --- blocking sockets in virtual time ------------------------------------------------------


class Sockets:
    """The `sockets` argument webget.get receives: like Python's socket module, only
    socket(AF_INET, SOCK_STREAM)."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.made: list[BlockingSocket] = []

    def socket(self, family: int = AF_INET, type: int = SOCK_STREAM, proto: int = 0) -> Any:
        if family != AF_INET or type != SOCK_STREAM:
            raise os_error(errno.EPROTONOSUPPORT, "the lab 0 bench has AF_INET SOCK_STREAM only")
        sock = BlockingSocket(self.bench, self.bench.client.host.socket(AF_INET, SOCK_STREAM))
        self.made.append(sock)
        return sock

    def __repr__(self) -> str:
        return "sockets"


class BlockingSocket:
    """A netstack TCP socket whose blocking calls run the simulated network while they
    wait. Everything not listed here is the netstack socket's own (getpeername, ...)."""

    def __init__(self, bench: Bench, sock: Any) -> None:
        self._bench = bench
        self._sock = sock
        self._timeout: float | None = None
        sock.setblocking(False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def __enter__(self) -> BlockingSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def _wait(self, events: int, what: str) -> None:
        sock, sim = self._sock, self._bench.sim
        limit = WAIT_LIMIT if self._timeout is None else self._timeout
        if limit == 0.0:
            raise os_error(errno.EAGAIN)

        def ready() -> bool:
            return bool(sock.readiness() & (events | POLLERR | POLLHUP))

        if not ready() and not sim.run_until(sim.now + limit, stop=ready):
            raise TimeoutError(f"{what}: nothing happened for {limit:g} (virtual) seconds")

    def connect(self, address: tuple[str, int]) -> None:
        code = self._sock.connect_ex(address)
        if code in (errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY):
            self._wait(POLLOUT, "connect")
            code = self._sock.getsockopt(SOL_SOCKET, SO_ERROR)
        if code and code != errno.EISCONN:
            raise os_error(code, f"connect to {address[0]}:{address[1]}")

    def connect_ex(self, address: tuple[str, int]) -> int:
        try:
            self.connect(address)
        except OSError as exc:
            return exc.errno or errno.EIO
        return 0

    def send(self, data: Any, flags: int = 0) -> int:
        while True:
            try:
                return self._sock.send(data, flags)
            except BlockingIOError:
                self._wait(POLLOUT, "send")

    def sendall(self, data: Any, flags: int = 0) -> None:
        view = memoryview(data).cast("B")
        while view:
            view = view[self.send(view, flags):]

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        while True:
            try:
                return self._sock.recv(bufsize, flags)
            except BlockingIOError:
                self._wait(POLLIN, "recv")

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        data = self.recv(nbytes or len(view), flags)
        view[: len(data)] = data
        return len(data)

    def makefile(self, mode: str = "rb", buffering: int | None = None, **_: Any) -> Any:
        if mode not in ("rb", "r"):
            raise ValueError("the lab 0 bench supports makefile('rb') and makefile('r') "
                             "only; write with sendall")
        raw = _RawReader(self)
        binary = io.BufferedReader(raw)
        return binary if mode == "rb" else io.TextIOWrapper(binary, "latin-1", newline="")

    def close(self) -> None:
        self._sock.close()


class _RawReader(io.RawIOBase):
    def __init__(self, sock: BlockingSocket) -> None:
        self.sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self.sock.recv_into(buffer)


# --- the bench -------------------------------------------------------------------------------


@dataclass
class Outcome:
    body: bytes | None
    error: BaseException | None
    trace: str
    at: float  # virtual time when get returned


class Bench:
    def __init__(self, variant: Variant, title: str = "") -> None:
        self.variant = variant
        self.title = title
        self.lines: list[str] = []
        self.sim = Simulator(seed=variant.stack_seed)
        builder = NetworkBuilder(self.sim, host_options={
            "tcp": TcpConfig(initial_rto=variant.initial_rto)})
        self.client = builder.host("client", f"{variant.our_ip}/{variant.prefix}")
        self.server = builder.host("server", f"{variant.peer_ip}/{variant.prefix}")
        spec = LinkSpec(delay=LINK_DELAY)
        builder.link("cable", "client", "server", spec, spec)
        # Every frame the client's stack sends or receives, for the grader's pcap of a
        # failing test (labs.kit.stack.keep_for_pcap).
        self.frames: list[tuple[float, bytes]] = []
        self.client.taps.append(
            lambda packet, outgoing: self.frames.append((self.sim.now, bytes(packet.data))))
        keep_for_pcap(self)
        builder.net.start()
        self.sockets = Sockets(self)
        self.server_app: Server | None = None
        self.last: Outcome | None = None  # what the last get() did
        self.module = webget()

    @property
    def server_ip(self) -> str:
        return str(self.variant.peer_ip)

    @property
    def port(self) -> int:
        """A port other than 80 for the server (the variant's)."""
        port = self.variant.peer_port
        return port if port != 80 else 8080

    def write_pcap(self, path: str) -> None:
        write_frames_pcap(self.frames, path)

    # --- the transcript ------------------------------------------------------------------
    def log(self, text: str, printed: str = "") -> None:
        self.lines.append(f"{len(self.lines) + 1:3d}. t={self.sim.now:.3f}  {text}")
        self.lines += [f"{'':14}| {line}" for line in printed.splitlines()]

    def fail(self, message: str) -> None:
        head = (f"transcript (lab 0 bench: webget on {self.variant.our_ip}, server "
                f"{self.server_ip}, {self.variant.name}):")
        body = "\n".join([head, *self.lines]) if self.lines else head + "\n  (no steps)"
        raise TranscriptMismatch(f"{body}\nstep {len(self.lines) + 1} failed at "
                                 f"t={self.sim.now:.3f}:\n  {message}{rerun_hint(self.variant)}")

    # --- steps -----------------------------------------------------------------------------
    def serve(self, script: list[Any], port: int | None = None) -> Server:
        port = self.port if port is None else port
        self.server_app = Server(self, port, script)
        sends = sum(1 for item in script if isinstance(item, bytes | bytearray))
        ending = "then holds the connection open" if HOLD in script else (
            "then closes" if CLOSE in script else "")
        self.log(f"server    listens on {self.server_ip}:{port}; will answer with {sends} "
                 f"send(s){', ' + ending if ending else ''}")
        return self.server_app

    def get(self, *args: Any) -> Outcome:
        """webget.get(sockets, *args), under a CPU budget, output captured."""
        shown = ", ".join(["sockets", *(repr(a) for a in args)])
        self.log(f"call      webget.get({shown})")
        output = io.StringIO()
        body: bytes | None = None
        error: BaseException | None = None
        trace = ""
        with captured_output(output), limit_cpu(CALL_CPU_SECONDS):
            try:
                body = self.module.get(self.sockets, *args)
            except StepOverBudget:
                self.fail(f"webget.get took more than {CALL_CPU_SECONDS:g} s of CPU: an "
                          "infinite loop?" + _printed(output))
            except Exception as exc:  # noqa: BLE001 - the student's code may raise anything
                error = exc
                trace = traceback.format_exc().rstrip()
        if error is None:
            shown_body = short(body) if isinstance(body, bytes | bytearray) else repr(body)
            self.log(f"returned  {shown_body}", output.getvalue())
        else:
            self.log(f"raised    {type(error).__name__}: {error}", output.getvalue())
        self.last = Outcome(body, error, trace, self.sim.now)
        return self.last

    def settle(self, seconds: float = 1.0) -> None:
        """Let the network run (the server finishes, FINs cross)."""
        self.sim.run_until(self.sim.now + seconds)

    # --- checks ----------------------------------------------------------------------------
    def expect_body(self, outcome: Outcome, expected: bytes) -> None:
        if outcome.error is not None:
            self.fail(f"expected the body {short(expected)}, but your code raised "
                      f"{type(outcome.error).__name__}: {outcome.error}\n{outcome.trace}")
        if not isinstance(outcome.body, bytes):
            self.fail(f"expected bytes, got {type(outcome.body).__name__}: {outcome.body!r}")
        if outcome.body != expected:
            self.fail(f"expected the body {short(expected)}, got {short(outcome.body)}"
                      + _first_difference(outcome.body, expected))
        self.log(f"check     the body is the {len(expected)} bytes the server sent")

    def expect_error(self, outcome: Outcome, name: str, **attributes: Any) -> BaseException:
        """get raised the module's `name` (HttpError, ResponseError) with these attributes."""
        kind = getattr(self.module, name)
        if outcome.error is None:
            self.fail(f"expected webget.{name}, but get returned {short(outcome.body or b'')}")
        if not isinstance(outcome.error, kind):
            self.fail(f"expected webget.{name}, got {type(outcome.error).__name__}: "
                      f"{outcome.error}\n{outcome.trace}")
        for attribute, value in attributes.items():
            got = getattr(outcome.error, attribute, None)
            if got != value:
                self.fail(f"expected {name}.{attribute} == {value!r}, got {got!r}")
        shown = ", ".join(f"{k}={v!r}" for k, v in attributes.items())
        self.log(f"check     it raised webget.{name}{f' ({shown})' if shown else ''}")
        assert outcome.error is not None
        return outcome.error

    def expect(self, what: str, ok: bool, detail: str = "") -> None:
        if not ok:
            self.fail(f"expected {what}" + (f": {detail}" if detail else ""))
        self.log(f"check     {what}")

    def request(self) -> bytes:
        app = self.server_app
        if app is None or not app.got_request:
            got = short(app.request, 160) if app is not None else "no server"
            why = ""
            if self.last is not None and self.last.error is not None:
                why = (f"\n  (webget.get raised {type(self.last.error).__name__}: "
                       f"{self.last.error})\n{self.last.trace}")
            self.fail(f"expected a whole request (ending with an empty line), the server "
                      f"got {got}{why}")
        assert app is not None
        return app.request


def _printed(output: io.StringIO) -> str:
    lines = output.getvalue().splitlines()
    if not lines:
        return ""
    return "\n  your code printed during this step:\n" + "\n".join(f"    | {x}" for x in lines)


def _first_difference(got: bytes, expected: bytes) -> str:
    for i, (a, b) in enumerate(zip(got, expected, strict=False)):
        if a != b:
            return f"\n  first difference at byte {i}: got {got[i:i + 16]!r}, expected {expected[i:i + 16]!r}"
    return f"\n  got {len(got)} bytes, expected {len(expected)}"
