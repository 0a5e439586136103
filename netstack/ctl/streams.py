"""Streams over the control plane: a live capture and the trace events, read a page at a time.

Most tools ask once and print the answer. `netstack capture` and `netstack events` watch: the
tool opens a stream, then keeps reading what the stack buffered for it since its last read:

    {"action": "open", ...}          -> {"stream": 3}
    {"action": "read", "stream": 3}  -> {"items": [...], "dropped": 0, "open": true}
    {"action": "close", "stream": 3} -> {"closed": true}

The loop side (here) attaches a tap when a stream opens and removes it when the stream
closes, so a stack nobody watches pays nothing. A stream belongs to its client slot. It is
closed when that slot changes hands (its tool exited or was killed) or when no read came
for `IDLE_CLOSE` seconds, so a killed tool never leaves a tap behind.

A stream keeps at most MAX_BUFFERED_BYTES (captures) or MAX_BUFFERED_EVENTS (events). A
tool that reads slower than the stack produces loses the excess, and each read says how
much (`dropped`): the loss is counted, never silent.

Capture points (`--at`):
    port   every frame the engine took from or gave to the port (Ethernet)
    kni    every frame to or from the KNI device (Ethernet)
    ipv4   IPv4 packets as the IPv4 stage receives them and as they leave it (raw IPv4)
    tcp    the IPv4 packets carrying TCP segments into and out of the TCP stage (raw IPv4)
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import time
from collections import deque
from typing import Any

from netstack.trace import describe_conn, parse_kinds
from netstack.wire import ipv4 as wire_ipv4

IDLE_CLOSE = 3.0  # seconds without a read before a stream is taken for abandoned
MAX_BUFFERED_BYTES = 4 * 1024 * 1024
MAX_BUFFERED_EVENTS = 20000
MAX_PAGE_BYTES = 256 * 1024  # frame bytes per read answer (base64 makes them 4/3 bigger)
MAX_PAGE_EVENTS = 2000
POINTS = ("port", "kni", "ipv4", "tcp")
LINKTYPE = {"port": 1, "kni": 1, "ipv4": 101, "tcp": 101}  # Ethernet; raw IP
ETHERNET_HEADER = 14
ETHERTYPE_IPV4 = b"\x08\x00"
PROTO_TCP = 6


class Stream:
    def __init__(self, slot: int, now: float) -> None:
        self.slot = slot
        self.last_read = now
        self.dropped = 0

    def detach(self) -> None:
        """Remove whatever this stream attached to the stack."""


class CaptureStream(Stream):
    def __init__(self, slot: int, now: float, server: Any, point: str) -> None:
        super().__init__(slot, now)
        if point not in POINTS:
            raise ValueError(f"--at {point}: expected one of {', '.join(POINTS)}")
        self.point = point
        self.frames: deque[tuple[float, bytes]] = deque()
        self.buffered = 0
        self.kept = 0  # packets taken since the stream opened
        self._undo: list[Any] = []
        engine, stack = server.engine, server.stack
        if point == "port":
            self._tee_engine_capture(engine)
        elif point == "kni":
            if engine.kni is None:
                raise ValueError("this stack has no KNI device (netstack run --kni tap:NAME)")
            self._wrap(engine.kni, "to_kernel", lambda original: self._on_to_kernel(original))
            self._wrap(engine.kni, "from_kernel", lambda original: self._on_from_kernel(original))
        else:
            only_tcp = point == "tcp"
            receiver = stack.tcp if only_tcp else stack.ipv4
            self._wrap(receiver, "receive", lambda original: self._on_receive(original, only_tcp))
            self._wrap(stack.ethernet, "send", lambda original: self._on_send(original, only_tcp))
            self._wrap(stack.ipv4, "send_like",
                       lambda original: self._on_send_like(original, only_tcp))

    # --- the taps (on the loop thread) ------------------------------------------------------
    def keep(self, packet: bytes | bytearray | memoryview) -> None:
        size = len(packet)
        if self.buffered + size > MAX_BUFFERED_BYTES:
            self.dropped += 1
            return
        self.frames.append((time.time(), bytes(packet)))
        self.buffered += size
        self.kept += 1

    def _tee_engine_capture(self, engine: Any) -> None:
        """The engine already records port frames into `engine.capture` (--capture FILE):
        put a tee there that keeps a copy for us and passes everything on."""
        previous = engine.capture
        stream = self

        class Tee:
            def record(self, frame: Any, now: float, point: str = "port") -> None:
                if point == "port":
                    stream.keep(frame)
                if previous is not None:
                    previous.record(frame, now, point)

            def flush(self) -> None:
                if previous is not None:
                    previous.flush()

            def close(self) -> None:
                if previous is not None:
                    previous.close()

        engine.capture = Tee()

        def undo() -> None:
            engine.capture = previous
        self._undo.append(undo)

    def _wrap(self, owner: Any, name: str, make: Any) -> None:
        had_own = name in vars(owner)
        original = getattr(owner, name)
        setattr(owner, name, make(original))

        def undo() -> None:
            if had_own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
        self._undo.append(undo)

    def _on_to_kernel(self, original: Any) -> Any:
        def to_kernel(frame: Any) -> Any:
            self.keep(frame)
            return original(frame)
        return to_kernel

    def _on_from_kernel(self, original: Any) -> Any:
        def from_kernel(pool: Any, max_n: int) -> Any:
            mbufs = original(pool, max_n)
            for m in mbufs:
                self.keep(m.data())
            return mbufs
        return from_kernel

    def _on_receive(self, original: Any, only_tcp: bool) -> Any:
        if only_tcp:  # TcpStage.receive(ip_header, payload, frame, now)
            def receive_segment(ip_header: Any, payload: Any, frame: Any, now: float) -> Any:
                # Rebuilt from the header and the (possibly reassembled) payload the stage
                # is given: what TCP sees, as one IPv4 packet.
                whole = dataclasses.replace(ip_header, more_fragments=False, fragment_offset=0)
                self.keep(wire_ipv4.build(whole, payload))
                return original(ip_header, payload, frame, now)
            return receive_segment

        def receive_packet(packet: Any, frame: Any, now: float) -> Any:  # Ipv4Stage.receive
            self.keep(packet)
            return original(packet, frame, now)
        return receive_packet

    def _wanted(self, packet: Any, only_tcp: bool) -> bool:
        return not only_tcp or (len(packet) > 9 and packet[9] == PROTO_TCP)

    def _on_send(self, original: Any, only_tcp: bool) -> Any:
        def send(dst_mac: bytes, ethertype: int, mbuf: Any) -> Any:
            if ethertype == 0x0800:
                packet = mbuf.data()  # before the Ethernet header goes in front
                if self._wanted(packet, only_tcp):
                    self.keep(packet)
            return original(dst_mac, ethertype, mbuf)
        return send

    def _on_send_like(self, original: Any, only_tcp: bool) -> Any:
        def send_like(template: Any, mbuf: Any) -> bool:
            sent = original(template, mbuf)
            if sent:
                packet = mbuf.data()[ETHERNET_HEADER:]
                if self._wanted(packet, only_tcp):
                    self.keep(packet)
            return sent
        return send_like

    # --- for the tool ---------------------------------------------------------------------
    def read(self) -> dict[str, Any]:
        items, size = [], 0
        while self.frames and size < MAX_PAGE_BYTES:
            stamp, packet = self.frames.popleft()
            self.buffered -= len(packet)
            size += len(packet)
            items.append([stamp, base64.b64encode(packet).decode()])
        dropped, self.dropped = self.dropped, 0
        return {"items": items, "dropped": dropped, "linktype": LINKTYPE[self.point]}

    def detach(self) -> None:
        while self._undo:
            self._undo.pop()()


class EventStream(Stream):
    def __init__(self, slot: int, now: float, server: Any, kinds: str, conn: str | None) -> None:
        super().__init__(slot, now)
        wanted = parse_kinds(kinds)  # ValueError names an unknown kind
        self.events: deque[dict[str, Any]] = deque()
        self.conn = conn
        self.origin = server.now
        self._unsubscribe = server.stack.trace.subscribe(self._on_event, wanted)

    def _on_event(self, event: Any) -> None:
        where = describe_conn(getattr(event, "conn", None))
        if self.conn and self.conn not in where:
            return
        if len(self.events) >= MAX_BUFFERED_EVENTS:
            self.dropped += 1
            return
        fields = {f.name: _plain(getattr(event, f.name)) for f in dataclasses.fields(event)}
        fields.update(kind=event.kind, layer=event.layer, conn=where,
                      line=event.describe(self.origin))
        self.events.append(fields)

    def read(self) -> dict[str, Any]:
        items = [self.events.popleft() for _ in range(min(len(self.events), MAX_PAGE_EVENTS))]
        dropped, self.dropped = self.dropped, 0
        return {"items": items, "dropped": dropped}

    def detach(self) -> None:
        self._unsubscribe()


def _plain(value: Any) -> Any:
    """An event field as JSON: numbers and strings as they are, the rest as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple) and all(isinstance(v, (int, float, str)) for v in value):
        return list(value)
    return str(value)


class StreamTable:
    """The server's open streams; `handle` answers the capture and events requests."""

    def __init__(self) -> None:
        self.streams: dict[int, Stream] = {}
        self._ids = itertools.count(1)

    def handle(self, server: Any, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        slot, now = server.current_slot, server.now
        action = args.get("action")
        if action == "open":
            if kind == "capture":
                stream: Stream = CaptureStream(slot, now, server, str(args.get("at", "port")))
            else:
                stream = EventStream(slot, now, server, str(args.get("kinds") or "all"),
                                     args.get("conn") or None)
            number = next(self._ids)
            self.streams[number] = stream
            return {"stream": number}
        stream_id = args.get("stream")
        stream = self.streams.get(stream_id) if isinstance(stream_id, int) else None
        if stream is None or stream.slot != slot:
            raise ValueError(f"no open stream {stream_id!r} (closed after {IDLE_CLOSE:g} s "
                             "without a read?)")
        if action == "read":
            stream.last_read = now
            return stream.read() | {"open": True}
        if action == "close":
            self.close(stream_id)
            return {"closed": True}
        raise ValueError(f"{kind}: action {action!r}: expected open, read or close")

    def close(self, stream_id: int) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is not None:
            stream.detach()

    def close_slot(self, slot: int) -> None:
        """Its tool is gone (the slot changed hands): close what it left open."""
        for number in [n for n, s in self.streams.items() if s.slot == slot]:
            self.close(number)

    def close_idle(self, now: float) -> None:
        for number in [n for n, s in self.streams.items() if now - s.last_read > IDLE_CLOSE]:
            self.close(number)

    def close_all(self) -> None:
        for number in list(self.streams):
            self.close(number)
