"""iperf3's wire protocol, as data: no sockets here (server.py and client.py do the I/O).

A test is one TCP **control connection** and N **data streams** to the server's port (5201):

    client                                   server
    connect, send the 37-byte cookie  ---->
                                      <----  PARAM_EXCHANGE (one signed byte: 9)
    parameters: 4-byte length + JSON  ---->
                                      <----  CREATE_STREAMS (10)
    N data connections, each sending the cookie (TCP), or for UDP one datagram "9876"
    (0x36373839, little-endian as iperf3 writes it) answered with "6789"
                                      <----  TEST_START (1), TEST_RUNNING (2)
    data flows: client -> server, or server -> client with -R
    TEST_END (4)                      ---->
                                      <----  EXCHANGE_RESULTS (13)
    its results: length + JSON        ---->
                                      <----  the server's results: length + JSON
                                      <----  DISPLAY_RESULTS (14)
    IPERF_DONE (16)                   ---->

A server busy with another test answers a new cookie with ACCESS_DENIED (-1). Each side
numbers its streams 1, 3, 4, 5... in the order they were made (iperf3 skips 2), and the
results are matched by those numbers. UDP datagrams start with a 12-byte header: seconds,
microseconds (the sender's clock) and a packet counter, big-endian (16 bytes with the
64-bit counter the client may ask for).
"""

from __future__ import annotations

import json
import random
import struct
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PORT = 5201
COOKIE_LEN = 37  # 36 characters and a NUL
COOKIE_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
MAX_JSON = 1 << 20  # a hostile peer cannot make us allocate more than this for one message
TCP_BLOCK = 128 * 1024  # iperf3's default TCP write size
UDP_BLOCK = 1448  # one datagram's payload by default (fits a 1500-byte MTU with options)
UDP_DEFAULT_RATE = 1_000_000  # bits/s, iperf3's default for UDP

# The control connection's one-byte states (signed).
TEST_START, TEST_RUNNING, TEST_END = 1, 2, 4
PARAM_EXCHANGE, CREATE_STREAMS, SERVER_TERMINATE, CLIENT_TERMINATE = 9, 10, 11, 12
EXCHANGE_RESULTS, DISPLAY_RESULTS, IPERF_DONE = 13, 14, 16
ACCESS_DENIED, SERVER_ERROR = -1, -2
STATE_NAMES = {TEST_START: "TEST_START", TEST_RUNNING: "TEST_RUNNING", TEST_END: "TEST_END",
               PARAM_EXCHANGE: "PARAM_EXCHANGE", CREATE_STREAMS: "CREATE_STREAMS",
               SERVER_TERMINATE: "SERVER_TERMINATE", CLIENT_TERMINATE: "CLIENT_TERMINATE",
               EXCHANGE_RESULTS: "EXCHANGE_RESULTS", DISPLAY_RESULTS: "DISPLAY_RESULTS",
               IPERF_DONE: "IPERF_DONE", ACCESS_DENIED: "ACCESS_DENIED",
               SERVER_ERROR: "SERVER_ERROR"}

UDP_CONNECT_MSG = struct.pack("<I", 0x36373839)  # iperf3 writes these as host-order ints
UDP_CONNECT_REPLY = struct.pack("<I", 0x39383736)
LEGACY_UDP_CONNECT_REPLY = struct.pack("<I", 987654321)
UDP_HEADER = struct.Struct("!IIl")  # seconds, microseconds, packet count
UDP_HEADER_64 = struct.Struct("!IIq")


class ProtocolError(Exception):
    """The peer said something iperf3 does not: one line, for the user."""


def make_cookie(rng: random.Random) -> bytes:
    return "".join(rng.choice(COOKIE_ALPHABET) for _ in range(COOKIE_LEN - 1)).encode() + b"\0"


def check_cookie(raw: bytes) -> bytes:
    if len(raw) != COOKIE_LEN or raw[-1:] != b"\0" or not raw[:-1].isalnum():
        raise ProtocolError("not an iperf3 cookie")
    return raw


def state_byte(state: int) -> bytes:
    return struct.pack("b", state)


def read_state(raw: bytes) -> int:
    return struct.unpack("b", raw)[0]


def encode_json(obj: Any) -> bytes:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return struct.pack("!I", len(body)) + body


def json_length(raw: bytes) -> int:
    (length,) = struct.unpack("!I", raw)
    if not 0 < length <= MAX_JSON:
        raise ProtocolError(f"a JSON message of {length} bytes (at most {MAX_JSON})")
    return length


def decode_json(body: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"bad JSON from the peer: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("the peer's JSON is not an object")
    return obj


def stream_ids(count: int) -> list[int]:
    """iperf3's stream numbers: 1, then 3, 4, 5..."""
    return [1] + list(range(3, count + 2))


@dataclass
class TestParams:
    """What the client asks for (the PARAM_EXCHANGE JSON), with iperf3's defaults."""

    udp: bool = False
    reverse: bool = False
    duration: float = 10.0
    parallel: int = 1
    blksize: int = TCP_BLOCK
    bandwidth: int = 0  # bits/s per stream; 0: as fast as possible (TCP)
    udp_64bit: bool = False
    client_version: str = "netstack"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        params: dict[str, Any] = {"tcp" if not self.udp else "udp": True, "omit": 0,
                                  "time": self.duration, "num": 0, "blockcount": 0,
                                  "parallel": self.parallel, "len": self.blksize,
                                  "pacing_timer": 1000, "client_version": self.client_version}
        if self.reverse:
            params["reverse"] = True
        if self.bandwidth:
            params["bandwidth"] = self.bandwidth
        if self.udp_64bit:
            params["udp_counters_64bit"] = 1
        return params

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TestParams:
        try:
            params = cls(udp=bool(obj.get("udp")), reverse=bool(obj.get("reverse")),
                         duration=float(obj.get("time", 10)), parallel=int(obj.get("parallel", 1)),
                         blksize=int(obj.get("len") or (UDP_BLOCK if obj.get("udp") else TCP_BLOCK)),
                         bandwidth=int(obj.get("bandwidth") or 0),
                         udp_64bit=bool(obj.get("udp_counters_64bit")),
                         client_version=str(obj.get("client_version", "?")))
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"bad test parameters: {exc}") from None
        if obj.get("bidirectional"):
            raise ProtocolError("--bidir is not supported by netstack's iperf3")
        if not 0 < params.parallel <= 128 or not 0 < params.blksize <= 1 << 20:
            raise ProtocolError("parallel or len out of range")
        if not 0 < params.duration <= 86400 and not obj.get("num") and not obj.get("blockcount"):
            raise ProtocolError("a test needs a time (-t)")
        if obj.get("num") or obj.get("blockcount"):
            raise ProtocolError("-n/-k (a byte or block count) is not supported: use -t")
        if params.udp and params.parallel != 1:
            raise ProtocolError("UDP with -P is not supported by netstack's iperf3")
        return params


@dataclass
class StreamResult:
    """One stream's side of the results exchange."""

    id: int
    bytes: int = 0
    packets: int = 0
    errors: int = 0  # UDP: datagrams lost
    jitter: float = 0.0  # UDP: seconds (RFC 1889's estimator)
    retransmits: int = -1  # TCP sender: from TCP_INFO; -1 where unknown
    end_time: float = 0.0
    # Extras netstack adds from TCP_INFO (iperf3 ignores keys it does not know).
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "bytes": self.bytes, "retransmits": self.retransmits,
                "jitter": self.jitter, "errors": self.errors, "omitted_errors": 0,
                "packets": self.packets, "omitted_packets": 0, "start_time": 0,
                "end_time": self.end_time, **self.extra}


def results_json(streams: list[StreamResult], sender_has_retransmits: int,
                 congestion: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"cpu_util_total": 0.0, "cpu_util_user": 0.0,
                           "cpu_util_system": 0.0,
                           "sender_has_retransmits": sender_has_retransmits,
                           "streams": [s.to_json() for s in streams]}
    if congestion:
        out["congestion_used"] = congestion
    return out


class UdpReceiver:
    """What a UDP stream's receiver keeps: packets, loss, out-of-order and jitter."""

    def __init__(self, counters_64bit: bool = False) -> None:
        self.header = UDP_HEADER_64 if counters_64bit else UDP_HEADER
        self.packets = 0
        self.bytes = 0
        self.highest = 0
        self.out_of_order = 0
        self.jitter = 0.0
        self._last_transit: float | None = None

    def datagram(self, data: bytes, arrived: float) -> None:
        if len(data) < self.header.size:
            return  # too short to be iperf3's: not counted
        seconds, micros, count = self.header.unpack_from(data)
        self.packets += 1
        self.bytes += len(data)
        if count > self.highest:
            self.highest = count
        else:
            self.out_of_order += 1
        transit = arrived - (seconds + micros / 1e6)
        if self._last_transit is not None:  # RFC 1889 §A.8: J += (|D| - J) / 16
            self.jitter += (abs(transit - self._last_transit) - self.jitter) / 16
        self._last_transit = transit

    @property
    def lost(self) -> int:
        return max(self.highest - self.packets, 0)


def udp_datagram(header: struct.Struct, count: int, now: float, size: int) -> bytes:
    seconds = int(now)
    return header.pack(seconds, int((now - seconds) * 1e6), count) + bytes(
        max(size - header.size, 0))
