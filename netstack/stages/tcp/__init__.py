"""TCP (RFC 9293), as a sans-I/O stage. Start reading at stage.py, then connection.py.

    state.py           the connection states, and which of them send or receive
    seq.py             sequence numbers modulo 2^32
    isn.py             initial sequence numbers (RFC 6528)
    options.py         MSS, window scale, SACK-permitted, timestamps on the SYNs
    rto.py             the retransmission timeout (RFC 6298)
    congestion.py      the congestion control interface, and Reno/NewReno
    cubic.py           CUBIC (RFC 9438), chosen per socket with TCP_CONGESTION
    timestamps.py      timestamps: TSval clock, TS.Recent, PAWS, RTT samples (RFC 7323)
    collaborators.py   what sender and receiver get instead of the connection: streams
                       with their lock, where segments go, what they ask the connection
    sender.py          send buffer, output, ACK processing, fast retransmit triggers
    retransmit.py      the sender's timers: retransmission (go-back-N) and persist probes
    newreno.py         fast retransmit and NewReno recovery, without SACK (RFC 6582)
    sack.py            SACK blocks we report, and the scoreboard of those we get (RFC 2018)
    sack_recovery.py   loss recovery with SACK: pipe, NextSeg (RFC 6675)
    tlp.py             the tail loss probe (RFC 8985 §7, without RACK)
    pmtu.py            path MTU discovery: "fragmentation needed" lowers the MSS (RFC 1191)
    receiver.py        receive buffer, reassembly, window, delayed ACK
    autotune.py        receive-buffer autotuning (grows SO_RCVBUF for fast readers)
    connection.py      the TCB: state, application side, TIME-WAIT
    connection_unit.py the connection's interface, and what it uses of the stage and listener
    keepalive.py       keepalive probes on an idle connection (RFC 1122 §4.2.3.6)
    emit.py            how a connection's segments leave: emit, SYN/ACK/RST, their options
    segment_arrives.py RFC 9293 §3.10.7, check by check
    stage.py           demultiplexing, RSTs for closed ports, ICMP errors, shared state
    gro.py             merging in-order segments of one burst before they are processed
    listener.py        listeners: passive open, SYN queue, accept queue (backlog)
    syncookie.py       SYN cookies: a SYN answered while keeping no state (RFC 4987)
    output.py          segments written into pool mbufs, the TX header template
    config.py          TcpConfig (stack-wide) and TcpSocketOptions (per connection)
    stats.py           per-connection counters for TCP_INFO, and the trace hooks
    info.py            the TCP_INFO snapshot (Linux's tcpi_* names; docs/TCP_INFO.md)

Glossary (RFC 9293 §3.3.1 names are kept as they are, in lower case):

    ISS, IRS     initial send / receive sequence number (ours / the peer's)
    snd_una      oldest byte we sent that is not acknowledged yet
    snd_nxt      next sequence number we will send (rewinds to snd_una after a timeout)
    snd_max      one past the highest sequence number we ever sent (BSD's name)
    snd_wnd      the window the peer offers us, in bytes (after scaling)
    snd_wl1/2    SEG.SEQ / SEG.ACK of the segment that last set snd_wnd
    rcv_nxt      next sequence number we expect from the peer
    rcv_wnd      how much more we said we would accept, from rcv_nxt
    rcv_adv      rcv_nxt + rcv_wnd: the right edge of our window, which never moves left
    MSS          maximum segment size: the most data one segment carries
    cwnd         congestion window: how much the network is trusted with (RFC 5681)
    ssthresh     slow start threshold: below it cwnd grows fast, above it slowly
    flight size  bytes sent and not yet acknowledged (snd_max - snd_una)
    RTT, SRTT    round-trip time; its smoothed average (RFC 6298)
    RTTVAR       the smoothed mean deviation of the RTT
    RTO          retransmission timeout: SRTT + 4 RTTVAR, clamped, doubled on each expiry
    dupack       an ACK that acknowledges nothing new while data is outstanding
    recover      snd_max when fast recovery (or a timeout) started; recovery ends once it is acked
    persist      the timer that probes a closed (zero) window
    PTO          probe timeout: when a tail loss probe goes out, about 2 SRTT (RFC 8985)
    MSL          maximum segment lifetime; TIME-WAIT lasts 2 MSL
    SWS          silly window syndrome: tiny segments or windows, avoided on both sides
    challenge ACK  RFC 5961's reply to a RST or SYN that is in the window but not exact
    TSval, TSecr our timestamp clock in a segment; the peer's, echoed (RFC 7323)
    TS.Recent    the peer's TSval we echo next; PAWS drops segments older than it
    SACK block   a range the receiver holds above a hole, [left, right) (RFC 2018)
    scoreboard   the SACKed ranges above snd_una the sender knows of (RFC 6675)
    pipe         RFC 6675's estimate of the bytes still in the network during recovery
    HighRxt      the end of what SACK recovery has retransmitted (RFC 6675)
    SYN cookie   an ISS that encodes what a listener would have kept about a SYN (RFC 4987)
"""

from netstack.stages.tcp.config import TcpConfig, TcpSocketOptions
from netstack.stages.tcp.congestion import CongestionControl, Reno
from netstack.stages.tcp.connection import TcpConnection
from netstack.stages.tcp.listener import TcpListener
from netstack.stages.tcp.seq import Seq
from netstack.stages.tcp.stage import TcpStage
from netstack.stages.tcp.state import TcpState

__all__ = [
    "CongestionControl",
    "Reno",
    "Seq",
    "TcpConfig",
    "TcpConnection",
    "TcpListener",
    "TcpSocketOptions",
    "TcpStage",
    "TcpState",
]
