"""The iperf3 client, on netstack.api sockets: `run_client(host, "192.0.2.1", ...)`.

It follows protocol.py's sequence against any iperf3 server (the real one, or
netstack's). Each data stream runs on a thread of its own and the control connection's
thread reports an interval per second. It returns the report `netstack iperf3` prints,
shaped as iperf3's -J output (start, intervals, end with sum_sent and sum_received) and
carrying netstack's own TCP_INFO for the streams it sent on.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from netstack.api import AF_INET, SOCK_DGRAM, SOCK_STREAM
from netstack.services.iperf3 import protocol as p
from netstack.services.iperf3.server import SETUP_TIMEOUT, read_json, recv_exact, tcp_extras

INTERVAL = 1.0
POLL = 0.25
CONNECT_TIMEOUT = 5.0  # a server that does not answer the SYN within this is unreachable
# Each test gets its own cookie: one purpose per test keeps them apart and repeatable.
_tests = itertools.count(1)


class Iperf3Error(Exception):
    """Why the test could not run, in one line (iperf3's own words where it has them)."""


class _Stream:
    def __init__(self, stream_id: int, sock: Any) -> None:
        self.id = stream_id
        self.sock = sock
        self.bytes = 0
        self.packets = 0
        self.udp: p.UdpReceiver | None = None
        self.tcp_info: dict[str, Any] = {}


def run_client(host: Any, server: str, port: int = p.DEFAULT_PORT,
               params: p.TestParams | None = None,
               report: Callable[[str], None] | None = None) -> dict[str, Any]:
    params = params or p.TestParams()
    control = host.socket(AF_INET, SOCK_STREAM)
    control.settimeout(CONNECT_TIMEOUT)
    streams: list[_Stream] = []
    try:
        try:
            control.connect((server, port))
        except (OSError, TimeoutError) as exc:
            raise Iperf3Error(f"unable to connect to server {server}:{port}: {exc}") from None
        control.settimeout(SETUP_TIMEOUT)
        cookie = p.make_cookie(host.stack.random.generator(f"iperf3-cookie/{next(_tests)}"))
        control.sendall(cookie)
        _expect(control, p.PARAM_EXCHANGE)
        control.sendall(p.encode_json(params.to_json()))
        _expect(control, p.CREATE_STREAMS)
        for stream_id in p.stream_ids(params.parallel):
            streams.append(_Stream(stream_id, _open_stream(host, server, port, cookie, params)))
        _expect(control, p.TEST_START)
        _expect(control, p.TEST_RUNNING)
        return _run(control, streams, params, server, port, report or (lambda line: None))
    except p.ProtocolError as exc:
        raise Iperf3Error(f"the control connection failed: {exc}") from None
    finally:
        for stream in streams:
            stream.sock.close()
        control.close()


def _expect(control: Any, wanted: int) -> None:
    state = p.read_state(recv_exact(control, 1, SETUP_TIMEOUT))
    if state == p.ACCESS_DENIED:
        raise Iperf3Error("the server is busy running a test. try again later")
    if state == p.SERVER_ERROR:
        raise Iperf3Error("the server has terminated the test (server error)")
    if state != wanted:
        raise Iperf3Error(f"the server said {p.STATE_NAMES.get(state, state)}, expected "
                          f"{p.STATE_NAMES[wanted]}")


def _open_stream(host: Any, server: str, port: int, cookie: bytes, params: p.TestParams) -> Any:
    if not params.udp:
        sock = host.socket(AF_INET, SOCK_STREAM)
        sock.settimeout(SETUP_TIMEOUT)
        sock.connect((server, port))
        sock.sendall(cookie)
        return sock
    sock = host.socket(AF_INET, SOCK_DGRAM)
    sock.settimeout(SETUP_TIMEOUT)
    sock.connect((server, port))
    sock.send(p.UDP_CONNECT_MSG)
    try:
        reply = sock.recv(64)
    except TimeoutError:
        sock.close()
        raise Iperf3Error("the server did not answer the UDP stream's greeting") from None
    if reply[:4] not in (p.UDP_CONNECT_REPLY, p.LEGACY_UDP_CONNECT_REPLY):
        sock.close()
        raise Iperf3Error("the server's UDP greeting is not iperf3's")
    return sock


def _run(control: Any, streams: list[_Stream], params: p.TestParams, server: str, port: int,
         report: Callable[[str], None]) -> dict[str, Any]:
    stop = threading.Event()
    work = _receive if params.reverse else (_send_udp if params.udp else _send_tcp)
    threads = [threading.Thread(target=work, args=(s, params, stop), daemon=True,
                                name=f"iperf3-stream-{s.id}") for s in streams]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    intervals = _intervals(streams, params, started, report)
    stop.set()
    finished = time.monotonic()
    # A receiver counts what arrived by the test's end; a sender all it wrote, its last
    # block too (the receiver counts it: the two must agree but for what is in flight).
    received = [(s.bytes, s.packets) for s in streams]
    for thread in threads:
        thread.join(SETUP_TIMEOUT)
    counted = received if params.reverse else [(s.bytes, s.packets) for s in streams]
    for s in streams:
        if not params.reverse and not params.udp:
            s.tcp_info = tcp_extras(s.sock)
    control.sendall(p.state_byte(p.TEST_END))
    _expect(control, p.EXCHANGE_RESULTS)
    ours = [p.StreamResult(s.id, bytes=b, packets=n, end_time=finished - started,
                           retransmits=s.tcp_info.get("retransmits", -1),
                           errors=s.udp.lost if s.udp else 0,
                           jitter=s.udp.jitter if s.udp else 0.0)
            for s, (b, n) in zip(streams, counted, strict=True)]
    sending = not params.reverse
    control.sendall(p.encode_json(p.results_json(ours, 1 if sending and not params.udp else 0)))
    theirs = read_json(control, SETUP_TIMEOUT)
    _expect(control, p.DISPLAY_RESULTS)
    control.sendall(p.state_byte(p.IPERF_DONE))
    return _report(streams, ours, theirs, params, intervals, server, port,
                   finished - started, report)


def _intervals(streams: list[_Stream], params: p.TestParams, started: float,
               report: Callable[[str], None]) -> list[dict[str, Any]]:
    """One entry a second until the test's time is up, each also printed by `report`."""
    intervals, last, at = [], [0] * len(streams), 0.0
    while at < params.duration:
        end = min(at + INTERVAL, params.duration)
        time.sleep(max(started + end - time.monotonic(), 0))
        now = [s.bytes for s in streams]
        seconds = end - at
        entry = {"streams": [], "sum": {}}
        for s, before, after in zip(streams, last, now, strict=True):
            entry["streams"].append({"socket": s.id, "start": at, "end": end, "seconds": seconds,
                                     "bytes": after - before,
                                     "bits_per_second": (after - before) * 8 / seconds})
            report(_line(s.id, at, end, after - before, seconds))
        total = sum(now) - sum(last)
        entry["sum"] = {"start": at, "end": end, "seconds": seconds, "bytes": total,
                        "bits_per_second": total * 8 / seconds}
        if len(streams) > 1:
            report(_line("SUM", at, end, total, seconds))
        intervals.append(entry)
        last, at = now, end
    return intervals


def _line(label: Any, start: float, end: float, nbytes: int, seconds: float,
          tail: str = "") -> str:
    return (f"[{label:>3}] {start:6.2f}-{end:<6.2f} sec  {_bytes(nbytes):>10}  "
            f"{_bits(nbytes * 8 / seconds if seconds else 0):>14}{tail}")


def _bytes(n: float) -> str:
    for unit, scale in (("GBytes", 1 << 30), ("MBytes", 1 << 20), ("KBytes", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} Bytes"


def _bits(rate: float) -> str:
    for unit, scale in (("Gbits/sec", 1e9), ("Mbits/sec", 1e6), ("Kbits/sec", 1e3)):
        if rate >= scale:
            return f"{rate / scale:.2f} {unit}"
    return f"{rate:.0f} bits/sec"


def _report(streams: list[_Stream], ours: list[p.StreamResult], theirs: dict[str, Any],
            params: p.TestParams, intervals: list, server: str, port: int, elapsed: float,
            report: Callable[[str], None]) -> dict[str, Any]:
    """iperf3's -J shape: our side and the server's, matched by stream number."""
    remote = {s.get("id"): s for s in theirs.get("streams", []) if isinstance(s, dict)}
    end_streams, sent_total, received_total, retransmits = [], 0, 0, 0
    report("- " * 25)
    for mine in ours:
        other = remote.get(mine.id, {})
        other_bytes = int(other.get("bytes", 0))
        sent, received = (mine.bytes, other_bytes) if not params.reverse else (other_bytes,
                                                                                 mine.bytes)
        other_time = float(other.get("end_time", elapsed) or elapsed)
        sender_time, receiver_time = (elapsed, other_time) if not params.reverse else (
            other_time, elapsed)
        retrans = mine.retransmits if not params.reverse else int(other.get("retransmits", -1))
        retransmits += max(retrans, 0)
        sent_total += sent
        received_total += received
        sender = {"socket": mine.id, "start": 0, "end": sender_time, "seconds": sender_time,
                  "bytes": sent, "bits_per_second": sent * 8 / sender_time,
                  "retransmits": retrans, "sender": True}
        stream = next(s for s in streams if s.id == mine.id)
        sender.update({k: v for k, v in (stream.tcp_info if not params.reverse else other).items()
                       if k in ("max_snd_cwnd", "max_rtt", "min_rtt", "mean_rtt")})
        receiver = {"socket": mine.id, "start": 0, "end": receiver_time,
                    "seconds": receiver_time, "bytes": received,
                    "bits_per_second": received * 8 / receiver_time, "sender": False}
        if params.udp:
            udp_source = other if not params.reverse else mine.to_json()
            receiver.update({"jitter_ms": float(udp_source.get("jitter", 0)) * 1000,
                             "lost_packets": int(udp_source.get("errors", 0)),
                             "packets": int(udp_source.get("packets", 0))})
        end_streams.append({"sender": sender, "receiver": receiver})
        report(_line(mine.id, 0, sender_time, sent, sender_time,
                     f"  {retrans:>5}  sender" if not params.udp else "  sender"))
        report(_line(mine.id, 0, receiver_time, received, receiver_time, "         receiver"))
    sum_sent = {"start": 0, "end": elapsed, "seconds": elapsed, "bytes": sent_total,
                "bits_per_second": sent_total * 8 / elapsed, "retransmits": retransmits,
                "sender": True}
    sum_received = {"start": 0, "end": elapsed, "seconds": elapsed, "bytes": received_total,
                    "bits_per_second": received_total * 8 / elapsed, "sender": False}
    report("")
    report("iperf Done.")
    return {"start": {"connecting_to": {"host": server, "port": port},
                      "test_start": {"protocol": "UDP" if params.udp else "TCP",
                                     "num_streams": params.parallel, "blksize": params.blksize,
                                     "duration": params.duration,
                                     "reverse": int(params.reverse)},
                      "version": "netstack iperf3"},
            "intervals": intervals,
            "end": {"streams": end_streams, "sum_sent": sum_sent, "sum_received": sum_received,
                    "server_output_json": theirs}}


# --- the data streams (each on its own thread) ----------------------------------------------
def _send_tcp(stream: _Stream, params: p.TestParams, stop: threading.Event) -> None:
    block = memoryview(bytes(params.blksize))
    stream.sock.settimeout(POLL)
    while not stop.is_set():
        try:
            stream.bytes += stream.sock.send(block)
        except TimeoutError:
            continue
        except OSError:
            return


def _send_udp(stream: _Stream, params: p.TestParams, stop: threading.Event) -> None:
    header = p.UDP_HEADER_64 if params.udp_64bit else p.UDP_HEADER
    interval = params.blksize * 8 / (params.bandwidth or p.UDP_DEFAULT_RATE)
    next_send = time.monotonic()
    while not stop.is_set():
        delay = next_send - time.monotonic()
        if delay > 0:
            stop.wait(delay)
            continue
        stream.packets += 1
        try:
            stream.sock.send(p.udp_datagram(header, stream.packets, time.time(), params.blksize))
        except OSError:
            return
        stream.bytes += params.blksize
        next_send += interval


def _receive(stream: _Stream, params: p.TestParams, stop: threading.Event) -> None:
    sock = stream.sock
    sock.settimeout(POLL)
    if params.udp:
        stream.udp = receiver = p.UdpReceiver(params.udp_64bit)
        while not stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            receiver.datagram(data, time.time())
            stream.bytes, stream.packets = receiver.bytes, receiver.packets
        return
    buffer = bytearray(max(params.blksize, 65536))
    while not stop.is_set():
        try:
            n = sock.recv_into(buffer)
        except TimeoutError:
            continue
        except OSError:
            return
        if not n:
            return
        stream.bytes += n
