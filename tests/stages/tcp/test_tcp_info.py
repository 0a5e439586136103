"""TCP internals as data: the trace events of a loss, and TCP_INFO against known values.

Two stacks on a virtual-time link (support.Link); stack A sends, and the link drops one
chosen data segment from A to B, once. Without SACK the loss is repaired by fast
retransmit and NewReno recovery; when the segment lost is the last one in flight (and the
tail loss probe is off), only the retransmission timer can repair it."""

from __future__ import annotations

from netstack.stages.tcp import TcpConfig
from netstack.stages.tcp.info import INFINITE_SSTHRESH, LINUX_STATE, TcpInfo, tcp_info
from netstack.stages.tcp.state import TcpState
from netstack.testing.tcp import decode_tcp
from netstack.trace import (
    CwndChange,
    Retransmit,
    RtoFired,
    SegmentIn,
    SegmentOut,
    StateChange,
    TraceEvent,
)

from .support import A_IP, B_IP, Link, two_stacks

MSS = 1460
NEWRENO = TcpConfig(sack=False, timestamps=False, tail_loss_probe=False)


class Scenario:
    """A connected pair, A -> B, with every trace event of stack A recorded."""

    def __init__(self, config: TcpConfig = NEWRENO) -> None:
        self.a, self.b = two_stacks(config)
        self.link = Link(self.a, self.b, delay=0.005)
        self.events: list[TraceEvent] = []
        self.unsubscribe = self.a.trace.subscribe(self.events.append)
        self.drop_seq: int | None = None  # the data segment (by seq) the link loses, once
        self.link.filter = self._filter
        listener = self.b.tcp.listen(None, 7, 4)
        self.client = self.a.tcp.connect(None, 0, B_IP, 7, 0.0)
        self.link.run_until(lambda: bool(listener.accept_queue))
        self.server = listener.accept_queue.popleft()
        self.received = bytearray()

    def _filter(self, src, frame: bytes) -> list[bytes]:
        segment = decode_tcp(frame)
        if (src is self.a and segment is not None and segment.payload
                and segment.seq == self.drop_seq):
            self.drop_seq = None
            return []
        return [frame]

    def data_seq(self, index: int) -> int:
        """The sequence number of the index-th full segment of data."""
        mss = self.client.sender.mss  # MSS less 12 option bytes with timestamps
        return (self.client.sender.iss.value + 1 + index * mss) & 0xFFFFFFFF

    def send(self, segments: int) -> bytes:
        self.client.options.nodelay = True
        data = bytes(i % 251 for i in range(segments * MSS))
        assert self.client.write_app(data) == len(data)
        self.client.app_did_write(self.link.now)
        return data

    def run_until_delivered(self, size: int, timeout: float = 30.0) -> None:
        def delivered() -> bool:
            self.received += self.server.read_app(1 << 20)
            return len(self.received) >= size and self.client.sender.flight_size == 0
        self.link.run_until(delivered, timeout)

    def info(self) -> TcpInfo:
        return tcp_info(self.client, self.link.now)


def first_index(events: list[TraceEvent], predicate, start: int = 0) -> int:
    for i in range(start, len(events)):
        if predicate(events[i]):
            return i
    raise AssertionError(f"no such event after #{start}:\n" +
                         "\n".join(e.describe() for e in events[start:]))


def test_a_lost_segment_is_traced_from_dupacks_to_the_end_of_recovery():
    s = Scenario()
    lost = s.data_seq(3)
    s.drop_seq = lost
    before = s.info()
    data = s.send(20)
    s.run_until_delivered(len(data))
    assert bytes(s.received) == data
    events = s.events
    conn = (s.client.local, s.client.remote)
    assert all(getattr(e, "conn", conn) == conn for e in events)
    # The segment goes out, three duplicate ACKs come back, then the fast retransmission.
    sent = first_index(events, lambda e: isinstance(e, SegmentOut) and e.seq == lost)
    ack_of_hole = lost  # each duplicate ACK asks for the lost segment
    dupacks = [i for i, e in enumerate(events) if isinstance(e, SegmentIn) and e.ack == ack_of_hole
               and e.length == 0 and i > sent]
    assert len(dupacks) >= 3
    retransmit = first_index(events, lambda e: isinstance(e, Retransmit), sent)
    assert dupacks[2] < retransmit
    assert events[retransmit] == Retransmit(events[retransmit].time, conn, lost, MSS,
                                            "fast_retransmit")
    out = events[retransmit + 1]
    assert isinstance(out, SegmentOut) and out.seq == lost and out.length == MSS
    entered = first_index(events, lambda e: isinstance(e, CwndChange), retransmit)
    change = events[entered]
    assert change.reason == "fast_retransmit"
    assert change.ssthresh < 1 << 30  # set by the loss
    assert change.ssthresh >= 2 * MSS
    exit_ = first_index(events, lambda e: isinstance(e, CwndChange)
                        and e.reason == "recovery_exit", entered)
    assert events[exit_].cwnd <= change.ssthresh
    # Nothing else was sent twice, and no timeout was needed.
    assert [e.seq for e in events if isinstance(e, Retransmit)] == [lost]
    assert not any(isinstance(e, RtoFired) for e in events)
    # TCP_INFO after the loss.
    after = s.info()
    assert before.tcpi_snd_ssthresh == INFINITE_SSTHRESH
    assert after.tcpi_total_retrans == 1
    assert after.tcpi_bytes_retrans == MSS
    assert after.tcpi_snd_ssthresh == change.ssthresh // MSS
    assert after.tcpi_snd_cwnd < s.client.sender.stats.bytes_acked // MSS  # reduced, not grown
    assert after.tcpi_bytes_acked == len(data)
    assert after.tcpi_bytes_sent == len(data) + MSS  # the retransmission counts too
    assert after.tcpi_unacked == 0 and after.tcpi_notsent_bytes == 0
    assert after.tcpi_ca_state == 0 and after.tcpi_retransmits == 0
    data_segments_out = sum(1 for e in events if isinstance(e, SegmentOut) and e.length)
    assert data_segments_out == 21
    assert after.tcpi_segs_out == sum(1 for e in events if isinstance(e, SegmentOut))
    assert after.tcpi_segs_in == sum(1 for e in events if isinstance(e, SegmentIn))
    server = tcp_info(s.server, s.link.now)
    assert server.tcpi_bytes_received == len(data)
    assert server.tcpi_total_retrans == 0


def test_the_loss_sets_ssthresh_and_reduces_cwnd():
    s = Scenario()
    s.drop_seq = s.data_seq(3)
    s.send(20)
    cwnd_before_loss: list[int] = []
    cc = s.client.sender
    s.link.run_until(lambda: cc.cc is not None and (
        cwnd_before_loss.append(cc.cc.cwnd) or cc.cc.in_recovery))
    peak = max(cwnd_before_loss)
    during = s.info()
    assert during.tcpi_ca_state == 3  # TCP_CA_Recovery
    assert during.tcpi_lost == 1 and during.tcpi_retrans == 1
    assert during.tcpi_snd_ssthresh * MSS <= peak // 2 + MSS
    s.link.run_until(lambda: not cc.cc.in_recovery)
    after = s.info()
    assert after.tcpi_ca_state == 0 and after.tcpi_lost == after.tcpi_retrans == 0
    assert after.tcpi_snd_cwnd * MSS < peak
    assert after.tcpi_snd_cwnd <= after.tcpi_snd_ssthresh


def test_a_timeout_is_traced_and_cuts_cwnd_to_one_segment():
    s = Scenario()
    lost = s.data_seq(2)
    s.drop_seq = lost  # the last segment of three: no duplicate ACK can come
    data = s.send(3)
    s.run_until_delivered(len(data))
    events = s.events
    fired = first_index(events, lambda e: isinstance(e, RtoFired))
    assert events[fired].backoff == 1
    assert events[fired].rto >= 0.2
    retransmit = first_index(events, lambda e: isinstance(e, Retransmit), fired)
    assert (events[retransmit].seq, events[retransmit].reason) == (lost, "rto")
    change = first_index(events, lambda e: isinstance(e, CwndChange), fired)
    assert events[change].reason == "rto"
    assert events[change].cwnd == MSS
    assert change < retransmit  # the window is cut, then go-back-N resends within it
    info = s.info()
    assert info.tcpi_total_retrans == 1 and info.tcpi_retransmits == 0  # the ACK reset it
    # Karn's rule: the retransmission gave no sample, so the doubled RTO stays until one.
    assert info.tcpi_backoff == 1 and info.tcpi_rto == 2 * round(events[fired].rto * 1e6)


def test_a_fresh_connection_reports_its_handshake_values():
    s = Scenario(TcpConfig())
    info = s.info()
    assert info.tcpi_state == LINUX_STATE[TcpState.ESTABLISHED] == 1
    assert info.state_name == "ESTABLISHED"
    assert info.tcpi_snd_mss == info.tcpi_advmss - 12  # timestamps take 12 bytes
    assert info.tcpi_advmss == MSS and info.tcpi_pmtu == 1500
    assert info.tcpi_snd_cwnd == 10  # RFC 6928's initial window
    assert info.tcpi_snd_ssthresh == INFINITE_SSTHRESH
    assert info.tcpi_congestion == "newreno"
    assert info.tcpi_total_retrans == info.tcpi_bytes_sent == info.tcpi_bytes_acked == 0
    assert info.tcpi_rtt == 10_000  # the handshake's one sample: two 5 ms hops
    assert info.tcpi_min_rtt == 10_000
    assert info.tcpi_segs_out == 2 and info.tcpi_segs_in == 1  # SYN, ACK; SYN-ACK
    server = tcp_info(s.server, s.link.now)  # window scales: what each side announced
    assert info.tcpi_snd_wscale == server.tcpi_rcv_wscale > 0
    assert info.tcpi_rcv_wscale == server.tcpi_snd_wscale > 0


def test_before_any_rtt_sample_the_rto_is_one_second():
    a, _ = two_stacks(NEWRENO)
    conn = a.tcp.connect(None, 0, B_IP, 7, 0.0)
    info = tcp_info(conn, 0.5)
    assert info.tcpi_state == LINUX_STATE[TcpState.SYN_SENT]
    assert info.tcpi_rto == 1_000_000 and info.tcpi_rtt == 0 and info.tcpi_backoff == 0
    assert info.tcpi_unacked == 1  # the SYN
    assert info.tcpi_segs_out == 1


def test_state_changes_are_traced_on_both_sides():
    s = Scenario()
    server_events: list[TraceEvent] = []
    s.b.trace.subscribe(server_events.append, kinds={"state"})
    s.client.close(s.link.now)
    s.link.run(1.0)
    s.server.close(s.link.now)
    s.link.run(1.0)
    client = [(e.old, e.new) for e in s.events if isinstance(e, StateChange)]
    assert client == [("CLOSED", "SYN-SENT"), ("SYN-SENT", "ESTABLISHED"),
                      ("ESTABLISHED", "FIN-WAIT-1"), ("FIN-WAIT-1", "FIN-WAIT-2"),
                      ("FIN-WAIT-2", "TIME-WAIT")]
    assert [(e.old, e.new) for e in server_events] == [("ESTABLISHED", "CLOSE-WAIT"),
                                                      ("CLOSE-WAIT", "LAST-ACK"),
                                                      ("LAST-ACK", "CLOSED")]
    line = server_events[0].describe()
    assert line.endswith(f"tcp {B_IP}:7>{A_IP}:{s.client.local[1]} state ESTABLISHED->CLOSE-WAIT")


def test_with_sack_the_repair_is_traced_as_sack_recovery():
    s = Scenario(TcpConfig(tail_loss_probe=False))
    lost = s.data_seq(3)
    s.drop_seq = lost
    data = s.send(20)
    s.run_until_delivered(len(data))
    retransmits = [e for e in s.events if isinstance(e, Retransmit)]
    assert [(e.seq, e.reason) for e in retransmits] == [(lost, "sack")]
    reasons = [e.reason for e in s.events if isinstance(e, CwndChange)]
    assert reasons.index("fast_retransmit") < reasons.index("recovery_exit")
    info = s.info()
    assert info.tcpi_total_retrans == 1 and info.tcpi_sacked == 0  # all acknowledged now


def test_a_tail_loss_probe_is_traced_as_such_and_no_timeout_follows():
    s = Scenario(TcpConfig(sack=False, timestamps=False))  # the tail loss probe is on
    lost = s.data_seq(3)
    s.drop_seq = lost  # the last of four: two stay in flight after the first ACK
    data = s.send(4)
    s.run_until_delivered(len(data))
    retransmits = [(e.seq, e.reason) for e in s.events if isinstance(e, Retransmit)]
    assert retransmits == [(lost, "tlp")]
    assert not any(isinstance(e, RtoFired) for e in s.events)


def test_tcp_info_during_sack_recovery_counts_the_lost_segments():
    """Found by the experiments toolkit, which samples TCP_INFO at every cwnd change: in SACK
    recovery tcp_info() called the scoreboard's highest_sacked property as a method."""
    s = Scenario(TcpConfig(tail_loss_probe=False))
    s.drop_seq = s.data_seq(3)
    seen: list[TcpInfo] = []

    def sample(event: TraceEvent) -> None:
        if isinstance(event, CwndChange) and event.reason == "fast_retransmit":
            seen.append(tcp_info(s.client, event.time))

    s.a.trace.subscribe(sample, kinds={"cwnd"})
    data = s.send(20)
    s.run_until_delivered(len(data))
    assert seen, "the loss never started a recovery"
    assert seen[0].tcpi_lost >= 1 and seen[0].tcpi_sacked >= 3
