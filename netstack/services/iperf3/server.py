"""The iperf3 server (`--service iperf3:5201`), on netstack.api sockets.

The stream runner gives each accepted connection a thread (stream_runner.py). The first to
send a cookie while no test runs becomes the test's **control connection** and drives it
(protocol.py's sequence). A later connection with the same cookie is one of its **data
streams**: its thread reads (or with -R writes) until the test ends. Any other cookie meets
ACCESS_DENIED, as iperf3's busy server answers. Every read has a deadline, so a client that
vanishes mid-test frees the server within a few seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from netstack.api import AF_INET, SOCK_DGRAM
from netstack.services.iperf3 import protocol as p

log = logging.getLogger(__name__)

SETUP_TIMEOUT = 10.0  # seconds for each step before the test starts
GRACE = 10.0  # beyond the test's own duration, before a silent client is given up on
POLL = 0.5  # how often a data thread looks whether the test ended


def recv_exact(sock: Any, n: int, timeout: float) -> bytes:
    """Exactly `n` bytes, or ProtocolError (closed, or not all within `timeout`)."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise p.ProtocolError(f"timed out waiting for {n} bytes")
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(data))
        except TimeoutError:
            continue
        if not chunk:
            raise p.ProtocolError("the peer closed the connection")
        data += chunk
    return bytes(data)


def read_json(sock: Any, timeout: float) -> dict[str, Any]:
    length = p.json_length(recv_exact(sock, 4, timeout))
    return p.decode_json(recv_exact(sock, length, timeout))


def tcp_extras(sock: Any) -> dict[str, Any]:
    """What netstack's TCP_INFO says of a sending stream, with iperf3's key names."""
    try:
        info = sock.info()
    except OSError:
        return {}
    return {"retransmits": info.tcpi_total_retrans,
            "max_snd_cwnd": info.tcpi_snd_cwnd * info.tcpi_snd_mss,
            "max_rtt": info.tcpi_rtt, "mean_rtt": info.tcpi_rtt, "min_rtt": info.tcpi_min_rtt,
            "congestion": info.tcpi_congestion}


class Test:
    """One test in progress: its cookie, parameters, streams and their counts."""

    def __init__(self, cookie: bytes) -> None:
        self.cookie = cookie
        self.params: p.TestParams | None = None
        self.streams: list[Any] = []  # data sockets, in arrival order
        self.counts: list[int] = []  # bytes per stream
        self.tcp_info: dict[int, dict[str, Any]] = {}  # stream -> TCP_INFO as it ended
        self.arrived = threading.Condition()
        self.running = threading.Event()
        self.ended = threading.Event()
        self.started = 0.0
        self.finished = 0.0
        self.udp: p.UdpReceiver | None = None
        self.udp_sent = 0

    def add_stream(self, sock: Any) -> int:
        with self.arrived:
            self.streams.append(sock)
            self.counts.append(0)
            self.arrived.notify_all()
            return len(self.streams) - 1


class Handler:
    """The iperf3 service: one test at a time (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._test: Test | None = None
        self.tests_run = 0

    def serve_connection(self, sock: Any, peer: tuple[str, int]) -> None:
        try:
            cookie = p.check_cookie(recv_exact(sock, p.COOKIE_LEN, SETUP_TIMEOUT))
        except p.ProtocolError:
            return
        with self._lock:
            test = self._test
            if test is not None and test.cookie == cookie:
                index = test.add_stream(sock)
            elif test is not None:
                sock.sendall(p.state_byte(p.ACCESS_DENIED))
                return
            else:
                self._test = test = Test(cookie)
                index = None
        if index is not None:
            self._run_stream(test, index, sock)
            return
        try:
            self._control(test, sock)
        except (p.ProtocolError, OSError) as exc:
            log.info("iperf3 test from %s ended: %s", peer[0], exc)
            try:
                sock.sendall(p.state_byte(p.SERVER_ERROR))
            except OSError:
                pass
        finally:
            test.ended.set()
            test.running.set()  # wake a stream still waiting for the start
            with self._lock:
                self._test = None

    # --- the control connection -----------------------------------------------------------
    def _control(self, test: Test, sock: Any) -> None:
        sock.sendall(p.state_byte(p.PARAM_EXCHANGE))
        params = test.params = p.TestParams.from_json(read_json(sock, SETUP_TIMEOUT))
        udp_sock = None
        if params.udp:
            udp_sock = sock.host.socket(AF_INET, SOCK_DGRAM)
            udp_sock.bind(("0.0.0.0", sock.getsockname()[1]))
        try:
            sock.sendall(p.state_byte(p.CREATE_STREAMS))
            if udp_sock is not None:
                self._udp_connect(test, udp_sock)
            else:
                with test.arrived:
                    if not test.arrived.wait_for(lambda: len(test.streams) >= params.parallel,
                                                 SETUP_TIMEOUT):
                        raise p.ProtocolError("the data streams did not all connect")
            sock.sendall(p.state_byte(p.TEST_START) + p.state_byte(p.TEST_RUNNING))
            test.started = time.monotonic()
            test.running.set()
            if udp_sock is not None:
                threading.Thread(target=self._run_udp, args=(test, udp_sock), daemon=True,
                                 name="iperf3-udp").start()
            state = p.read_state(recv_exact(sock, 1, params.duration + GRACE))
            test.finished = time.monotonic()
            test.ended.set()
            if state != p.TEST_END:
                raise p.ProtocolError(f"the client said {p.STATE_NAMES.get(state, state)}")
            if params.reverse and not params.udp:
                with test.arrived:  # each sending stream notes its TCP_INFO as it stops
                    test.arrived.wait_for(lambda: len(test.tcp_info) == len(test.streams),
                                          POLL * 4)
            sock.sendall(p.state_byte(p.EXCHANGE_RESULTS))
            read_json(sock, SETUP_TIMEOUT)  # the client's side; we report ours
            sock.sendall(p.encode_json(self._results(test)))
            sock.sendall(p.state_byte(p.DISPLAY_RESULTS))
            try:
                recv_exact(sock, 1, SETUP_TIMEOUT)  # IPERF_DONE
            except p.ProtocolError:
                pass  # some clients close at once: the test is over either way
            self.tests_run += 1
        finally:
            if udp_sock is not None:
                udp_sock.close()

    def _results(self, test: Test) -> dict[str, Any]:
        params = test.params
        assert params is not None
        elapsed = max(test.finished - test.started, 1e-9)
        sending = params.reverse
        results = []
        if params.udp:
            udp = test.udp or p.UdpReceiver()
            results.append(p.StreamResult(1, bytes=udp.bytes if not sending else test.udp_sent,
                                          packets=udp.packets, errors=udp.lost,
                                          jitter=udp.jitter, end_time=elapsed))
        else:
            for index, (stream_id, count) in enumerate(zip(p.stream_ids(len(test.streams)),
                                                           test.counts, strict=True)):
                extra = dict(test.tcp_info.get(index, {})) if sending else {}
                retransmits = extra.pop("retransmits", -1)
                results.append(p.StreamResult(stream_id, bytes=count, end_time=elapsed,
                                              retransmits=retransmits, extra=extra))
        return p.results_json(results, 1 if sending and not params.udp else 0)

    # --- data -----------------------------------------------------------------------------
    def _run_stream(self, test: Test, index: int, sock: Any) -> None:
        """A TCP data stream: count what arrives, or with -R send until the test ends."""
        if not test.running.wait(SETUP_TIMEOUT + SETUP_TIMEOUT):
            return
        params = test.params
        if params is None:
            return
        sock.settimeout(POLL)
        if params.reverse:
            block = memoryview(bytes(params.blksize))
            try:
                while not test.ended.is_set():
                    try:
                        test.counts[index] += sock.send(block)
                    except TimeoutError:
                        continue
            except OSError:
                pass
            # Taken now: the results are sent after the runner has closed this socket.
            with test.arrived:
                test.tcp_info[index] = tcp_extras(sock)
                test.arrived.notify_all()
            return
        buffer = bytearray(max(params.blksize, 65536))
        while True:  # read until the client closes; count only until the test ends
            try:
                n = sock.recv_into(buffer)
            except TimeoutError:
                if test.ended.is_set() and time.monotonic() - test.finished > GRACE:
                    return
                continue
            except OSError:
                return
            if not n:
                return
            if not test.ended.is_set():
                test.counts[index] += n

    def _udp_connect(self, test: Test, udp_sock: Any) -> None:
        """iperf3's UDP "connect": the client's datagram, our reply, then connected."""
        udp_sock.settimeout(SETUP_TIMEOUT)
        try:
            hello, peer = udp_sock.recvfrom(64)
        except TimeoutError:
            raise p.ProtocolError("no UDP stream arrived") from None
        if hello[:4] != p.UDP_CONNECT_MSG:
            raise p.ProtocolError("the UDP stream did not start with iperf3's greeting")
        udp_sock.connect(peer)
        udp_sock.send(p.UDP_CONNECT_REPLY)
        test.add_stream(udp_sock)

    def _run_udp(self, test: Test, udp_sock: Any) -> None:
        params = test.params
        assert params is not None
        if params.reverse:
            self._send_udp(test, udp_sock, params)
            return
        test.udp = receiver = p.UdpReceiver(params.udp_64bit)
        udp_sock.settimeout(POLL)
        while not test.ended.is_set():
            try:
                data = udp_sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            receiver.datagram(data, time.time())

    def _send_udp(self, test: Test, udp_sock: Any, params: p.TestParams) -> None:
        header = p.UDP_HEADER_64 if params.udp_64bit else p.UDP_HEADER
        rate = params.bandwidth or p.UDP_DEFAULT_RATE
        interval = params.blksize * 8 / rate
        count, next_send = 0, time.monotonic()
        while not test.ended.is_set():
            delay = next_send - time.monotonic()
            if delay > 0:
                test.ended.wait(delay)
                continue
            count += 1
            try:
                udp_sock.send(p.udp_datagram(header, count, time.time(), params.blksize))
            except OSError:
                return
            test.udp_sent += params.blksize
            next_send += interval
