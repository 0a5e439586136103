"""TCP_INFO: a snapshot of one connection, with Linux's `tcpi_*` names and units.

`tcp_info(conn, now)` is a pure function of the connection's public values (the sender,
receiver, RTO estimator, congestion control and the TcpStats counters), so a notebook or a
tool gets the same snapshot a socket's getsockopt(IPPROTO_TCP, TCP_INFO) returns. Take it
on the thread that runs the stack (the socket layer does), so the values agree.

Units are Linux's: times in microseconds, except last_data_sent/recv in milliseconds;
windows (snd_cwnd, snd_ssthresh) in segments of snd_mss; byte counts in bytes;
delivery_rate in bytes per second. docs/TCP_INFO.md says where each field comes from and
where its meaning differs from Linux's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from netstack.stages.tcp.congestion import DUPACK_THRESHOLD, initial_window
from netstack.stages.tcp.state import TcpState

if TYPE_CHECKING:
    from netstack.stages.tcp.connection import TcpConnection

# include/net/tcp_states.h
LINUX_STATE = {
    TcpState.ESTABLISHED: 1,
    TcpState.SYN_SENT: 2,
    TcpState.SYN_RECEIVED: 3,
    TcpState.FIN_WAIT_1: 4,
    TcpState.FIN_WAIT_2: 5,
    TcpState.TIME_WAIT: 6,
    TcpState.CLOSED: 7,
    TcpState.CLOSE_WAIT: 8,
    TcpState.LAST_ACK: 9,
    TcpState.LISTEN: 10,
    TcpState.CLOSING: 11,
}
# include/uapi/linux/tcp.h, enum tcp_ca_state
CA_OPEN, CA_DISORDER, CA_CWR, CA_RECOVERY, CA_LOSS = range(5)
INFINITE_SSTHRESH = 0x7FFFFFFF  # what Linux reports before the first loss
UNBOUNDED = 1 << 30  # an ssthresh this large (bytes) is the "arbitrarily high" initial one
IP_TCP_HEADERS = 40  # IPv4 + TCP headers without options: pmtu = advmss + 40


@dataclass(frozen=True)
class TcpInfo:
    tcpi_state: int  # Linux's number (LINUX_STATE); `state_name` below is ours
    tcpi_ca_state: int
    tcpi_retransmits: int
    tcpi_backoff: int
    tcpi_rto: int  # microseconds
    tcpi_ato: int
    tcpi_snd_mss: int  # bytes
    tcpi_rcv_mss: int
    tcpi_unacked: int  # segments
    tcpi_sacked: int
    tcpi_lost: int
    tcpi_retrans: int
    tcpi_last_data_sent: int  # milliseconds ago
    tcpi_last_data_recv: int
    tcpi_pmtu: int
    tcpi_rcv_ssthresh: int  # bytes
    tcpi_rtt: int  # microseconds
    tcpi_rttvar: int
    tcpi_snd_ssthresh: int  # segments
    tcpi_snd_cwnd: int  # segments
    tcpi_advmss: int
    tcpi_reordering: int
    tcpi_rcv_rtt: int  # microseconds
    tcpi_rcv_space: int  # bytes
    tcpi_total_retrans: int
    tcpi_bytes_sent: int
    tcpi_bytes_retrans: int
    tcpi_bytes_acked: int
    tcpi_bytes_received: int
    tcpi_segs_out: int
    tcpi_segs_in: int
    tcpi_notsent_bytes: int
    tcpi_min_rtt: int  # microseconds
    tcpi_delivery_rate: int  # bytes per second
    tcpi_snd_wnd: int  # bytes
    tcpi_rcv_wnd: int
    tcpi_snd_wscale: int  # the shift the peer announced (RFC 7323); 0 without scaling
    tcpi_rcv_wscale: int  # the shift we announced
    tcpi_congestion: str  # the congestion control's name (Linux: TCP_CONGESTION)
    state_name: str  # "ESTABLISHED"...: netstack's name for tcpi_state

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _us(seconds: float | None) -> int:
    return 0 if seconds is None else round(seconds * 1_000_000)


def _ms_since(when: float | None, now: float) -> int:
    return 0 if when is None else max(round((now - when) * 1000), 0)


def _segments(n_bytes: int, mss: int) -> int:
    return -(-n_bytes // mss) if n_bytes > 0 else 0


def _ca_state(conn: TcpConnection) -> int:
    sender = conn.sender
    if sender.in_timeout_recovery:
        return CA_LOSS
    if sender.cc is not None and sender.cc.in_recovery:
        return CA_RECOVERY
    if sender.dupacks:
        return CA_DISORDER
    return CA_OPEN


def _sacked_and_lost(conn: TcpConnection, mss: int) -> tuple[int, int]:
    """SACKed segments, and those taken for lost: after a timeout everything outstanding
    (as Linux marks it), in NewReno recovery the one hole at SND.UNA, in SACK recovery
    the holes below the highest SACKed byte."""
    sender = conn.sender
    scoreboard = sender.sack.scoreboard
    sacked = scoreboard.sacked_bytes() if sender.sack.enabled else 0
    if sender.in_timeout_recovery:
        lost: int = sender.flight_size - sacked
    elif sender.cc is not None and sender.cc.in_recovery:
        highest = scoreboard.highest_sacked if sender.sack.enabled else None
        if highest is None:
            lost = min(sender.flight_size, mss)
        else:
            lost = (highest - sender.snd_una) - sacked  # type: ignore[operator]
    else:
        lost = 0
    return _segments(sacked, mss), _segments(max(lost, 0), mss)


def _retrans_out(conn: TcpConnection, mss: int) -> int:
    """Segments resent and not yet acknowledged, as far as the sender's variables tell:
    go-back-N's span after a timeout, one segment in NewReno recovery, SACK recovery's
    resent span (HighRxt)."""
    sender = conn.sender
    if sender.in_timeout_recovery:
        end = sender.snd_nxt if sender.snd_nxt < sender.recover else sender.recover
        return _segments(end - sender.snd_una, mss)  # type: ignore[arg-type]
    if sender.cc is not None and sender.cc.in_recovery:
        if sender.sack.enabled:
            resent = sender.sack.high_rxt - sender.snd_una
            return _segments(resent, mss) if resent > 0 else 0  # type: ignore[arg-type,operator]
        return 1
    return 0


def _congestion_name(conn: TcpConnection) -> str:
    """The name the options give, unless a test or lab forced its own class."""
    if conn.stage.congestion_factory is not None and conn.sender.cc is not None:
        return type(conn.sender.cc).__name__.lower()
    return conn.options.congestion_control


def tcp_info(conn: TcpConnection, now: float) -> TcpInfo:
    """The snapshot of `conn` at `now` (the stack's clock)."""
    sender, receiver, rto, stats = conn.sender, conn.receiver, conn.sender.rto, conn.stats
    mss = max(sender.mss, 1)
    cc = sender.cc
    if cc is None:  # not established yet: the window it will start with
        cwnd, ssthresh = initial_window(mss), UNBOUNDED
    else:
        cwnd, ssthresh = cc.cwnd, cc.ssthresh
    sacked, lost = _sacked_and_lost(conn, mss)
    return TcpInfo(
        tcpi_state=LINUX_STATE[conn.state],
        tcpi_ca_state=_ca_state(conn),
        tcpi_retransmits=sender.retries,
        tcpi_backoff=rto.backoffs,
        tcpi_rto=_us(rto.rto),
        tcpi_ato=_us(conn.config.delayed_ack),
        tcpi_snd_mss=sender.mss,
        tcpi_rcv_mss=receiver.largest_segment,
        tcpi_unacked=_segments(sender.flight_size, mss),
        tcpi_sacked=sacked,
        tcpi_lost=lost,
        tcpi_retrans=_retrans_out(conn, mss),
        tcpi_last_data_sent=_ms_since(stats.last_data_sent, now),
        tcpi_last_data_recv=_ms_since(stats.last_data_recv, now),
        tcpi_pmtu=conn.our_mss + IP_TCP_HEADERS,
        tcpi_rcv_ssthresh=max(conn.options.rcvbuf - len(receiver.ready), 0),
        tcpi_rtt=_us(rto.srtt),
        tcpi_rttvar=_us(rto.rttvar),
        tcpi_snd_ssthresh=INFINITE_SSTHRESH if ssthresh >= UNBOUNDED else ssthresh // mss,
        tcpi_snd_cwnd=cwnd // mss,
        tcpi_advmss=conn.our_mss,
        tcpi_reordering=DUPACK_THRESHOLD,
        tcpi_rcv_rtt=_us(rto.srtt),
        tcpi_rcv_space=conn.options.rcvbuf,
        tcpi_total_retrans=stats.total_retrans,
        tcpi_bytes_sent=stats.bytes_sent,
        tcpi_bytes_retrans=stats.bytes_retrans,
        tcpi_bytes_acked=stats.bytes_acked,
        tcpi_bytes_received=receiver.rcv_nxt_offset - (1 if receiver.fin_received else 0),
        tcpi_segs_out=stats.segs_out,
        tcpi_segs_in=stats.segs_in,
        tcpi_notsent_bytes=max(sender.unsent(), 0),
        tcpi_min_rtt=_us(stats.min_rtt),
        tcpi_delivery_rate=round(stats.delivery_rate),
        tcpi_snd_wnd=sender.snd_wnd,
        tcpi_rcv_wnd=receiver.rcv_wnd,
        tcpi_snd_wscale=sender.snd_shift,
        tcpi_rcv_wscale=receiver.window_shift,
        tcpi_congestion=_congestion_name(conn),
        state_name=str(conn.state),
    )
