"""What a run watches: which frames belong to which flow, and each TCP sender's TCP_INFO.

`FlowTracker` sits on every host's interface. A data-carrying TCP frame leaving a flow's
sender is counted and tagged with the flow's name (Packet.flow); when a tagged frame
reaches the flow's receiver, its arrival time and one-way delay are recorded. Frames are
told apart by their (source, source port, destination, destination port), read straight
from the bytes: no full parse per frame.

`TcpInfoProbe` subscribes to the sender stack's trace (cwnd, rtt, retransmit, rto events
of one connection) and, at each, takes `tcp_info()` and keeps a row when a watched value
changed: the time series that plots draw.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from netstack.sim.packet import Packet
from netstack.sim.record import FlowRecord
from netstack.stages.tcp.info import UNBOUNDED, tcp_info
from netstack.trace import CwndChange, Retransmit, RtoFired, RttSample

SERIES_COLUMNS = ("time", "cwnd", "ssthresh", "srtt", "rttvar", "rto", "bytes_acked",
                  "bytes_received", "total_retrans", "delivery_rate")
ETHERTYPE_IPV4 = b"\x08\x00"
PROTO_TCP = 6


def flow_key(src: str, sport: int, dst: str, dport: int) -> bytes:
    """The bytes a data frame of this flow carries at offsets 26..34 and in its ports."""
    return (IPv4Address(src).packed + sport.to_bytes(2, "big")
            + IPv4Address(dst).packed + dport.to_bytes(2, "big"))


class FlowTracker:
    def __init__(self) -> None:
        self._by_key: dict[bytes, FlowRecord] = {}
        self._receiver: dict[str, str] = {}  # flow name -> receiving host
        self._records: dict[str, FlowRecord] = {}

    def watch(self, record: FlowRecord, receiver: str, src: str, sport: int, dst: str,
              dport: int) -> None:
        """Frames from src:sport to dst:dport with data are `record`'s."""
        self._by_key[flow_key(src, sport, dst, dport)] = record
        self._receiver[record.name] = receiver
        self._records[record.name] = record

    def dropped(self, packet: Packet, reason: str) -> None:
        """A link discarded `packet` (LinkDirection's on_drop)."""
        if packet.flow is not None:
            self._records[packet.flow].frames_lost += 1

    def tap_for(self, host: str, clock):
        """The tap for one host's interface: (packet, outgoing)."""
        by_key, receiver, records = self._by_key, self._receiver, self._records

        def tap(packet: Packet, outgoing: bool) -> None:
            if outgoing:
                data = packet.data
                if data[12:14] != ETHERTYPE_IPV4 or data[23] != PROTO_TCP:
                    return
                ihl = (data[14] & 0x0F) * 4
                tcp = 14 + ihl
                record = by_key.get(data[26:30] + data[tcp:tcp + 2] + data[30:34]
                                    + data[tcp + 2:tcp + 4])
                if record is None:
                    return
                payload = ((data[16] << 8) | data[17]) - ihl - (data[tcp + 12] >> 4) * 4
                if payload > 0:
                    record.frames_sent += 1
                    packet.flow = record.name
            elif packet.flow is not None and receiver.get(packet.flow) == host:
                record = records[packet.flow]
                now = clock.now
                record.arrivals.append((now, len(packet.data)))
                record.one_way_delays.append(now - packet.born)

        return tap


class TcpInfoProbe:
    """The TCP_INFO time series and RTT samples of one sending connection."""

    def __init__(self, stack, conn, record: FlowRecord, series: bool = True) -> None:
        self.conn = conn
        self.record = record
        self.rows: list[tuple] = []
        self._last: tuple | None = None
        self._series = series
        self._id = conn.stats.endpoints()
        self._unsubscribe = stack.trace.subscribe(
            self._on_event, kinds={"cwnd", "rtt", "retransmit", "rto"})

    def _on_event(self, event) -> None:
        if event.conn != self._id:
            return
        if isinstance(event, RttSample):
            self.record.rtt_samples.append((event.time, event.rtt))
        elif isinstance(event, RtoFired):
            self.record.rtos += 1
        if self._series and isinstance(event, (CwndChange, RttSample, Retransmit, RtoFired)):
            self.sample(event.time)

    def sample(self, now: float) -> None:
        """A row of TCP_INFO's values (stages/tcp/info.py), when one changed. They are read
        where tcp_info() reads them, without building the whole TcpInfo: this runs at every
        cwnd change, which is every ACK."""
        conn = self.conn
        sender, stats = conn.sender, conn.stats
        cc, rto = sender.cc, sender.rto
        if cc is None:
            return
        ssthresh = cc.ssthresh if cc.ssthresh < UNBOUNDED else -1
        receiver = conn.receiver
        values = (cc.cwnd, ssthresh, rto.srtt or 0.0, rto.rttvar or 0.0, rto.rto,
                  stats.bytes_acked, receiver.rcv_nxt_offset - receiver.fin_received,
                  stats.total_retrans, round(stats.delivery_rate))
        if values != self._last:
            self._last = values
            self.rows.append((now, *values))

    def close(self) -> None:
        """Stop watching; the final counters go into the record."""
        self._unsubscribe()
        info = tcp_info(self.conn, self.record_time())
        self.record.retransmits = info.tcpi_total_retrans

    def record_time(self) -> float:
        return self.rows[-1][0] if self.rows else 0.0
