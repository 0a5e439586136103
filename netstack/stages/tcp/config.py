"""TCP tunables: the stack-wide `TcpConfig` and the per-connection `TcpSocketOptions`.

Defaults follow Linux where the RFCs leave a choice; each says where it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass

from netstack.errors import ConfigError
from netstack.stages.tcp.congestion import ALGORITHMS, DEFAULT_ALGORITHM

DEFAULT_BUFFER = 256 * 1024  # bytes; room for a 20 Mbit/s x 100 ms path, window shift 3
# The receive buffer autotuning may grow to (Linux's tcp_rmem[2] is 6 MB): a 320 Mbit/s x
# 100 ms path; with it, our SYNs offer window shift 7.
MAX_AUTOTUNED_BUFFER = 4 * 1024 * 1024
# TcpConfig.syncookies: when a listener answers a SYN with a cookie (listener.py)
SYNCOOKIES_NEVER, SYNCOOKIES_WHEN_FULL, SYNCOOKIES_ALWAYS = 0, 1, 2


@dataclass
class TcpSocketOptions:
    """What setsockopt changes on one connection (or on a listener, inherited by accept)."""

    nodelay: bool = False  # TCP_NODELAY: turn Nagle's algorithm off
    keepalive: bool = False  # SO_KEEPALIVE
    keepalive_idle: float = 7200.0  # TCP_KEEPIDLE, seconds (RFC 1122 §4.2.3.6: >= 2 hours)
    keepalive_interval: float = 75.0  # TCP_KEEPINTVL, seconds between unanswered probes
    keepalive_count: int = 9  # TCP_KEEPCNT, unanswered probes before ETIMEDOUT
    rcvbuf: int = DEFAULT_BUFFER  # SO_RCVBUF: the receive window is what is free of it
    rcvbuf_locked: bool = False  # SO_RCVBUF was set: no autotuning (Linux's SOCK_RCVBUF_LOCK)
    sndbuf: int = DEFAULT_BUFFER  # SO_SNDBUF: unacknowledged plus unsent bytes
    linger_zero: bool = False  # SO_LINGER with l_linger 0: close() sends RST (abortive)
    congestion_control: str = DEFAULT_ALGORITHM  # TCP_CONGESTION: "newreno" or "cubic"

    def copy(self) -> TcpSocketOptions:
        return TcpSocketOptions(**self.__dict__)


@dataclass(frozen=True)
class TcpConfig:
    msl: float = 30.0  # maximum segment lifetime; TIME_WAIT lasts 2 x MSL (Linux: 60 s)
    initial_rto: float = 1.0  # RFC 6298 §2.1
    min_rto: float = 0.2  # RFC 6298 §2.4 says 1 s; Linux uses 200 ms
    max_rto: float = 120.0  # RFC 6298 §2.5 allows a maximum of at least 60 s; Linux: 120 s
    clock_granularity: float = 0.001  # G in RFC 6298 §2.3
    max_retries: int = 15  # retransmissions of one segment before ETIMEDOUT (tcp_retries2)
    syn_retries: int = 6  # SYN retransmissions before ETIMEDOUT (tcp_syn_retries)
    synack_retries: int = 5  # SYN-ACK retransmissions before the half-open one is dropped
    # RFC 1122 §4.2.3.2 allows up to 0.5 s; we cap it at 200 ms and default to Linux's 40 ms
    # minimum, so a peer's 200 ms minimum RTO never races our delayed ACK.
    delayed_ack: float = 0.04
    default_mss: int = 536  # RFC 9293 §3.7.1: assumed when the peer sends no MSS option
    window_scaling: bool = True  # offer RFC 7323 window scaling in our SYNs
    timestamps: bool = True  # offer RFC 7323 timestamps (timestamps.py); Linux: tcp_timestamps
    sack: bool = True  # offer RFC 2018 SACK, recover with RFC 6675 (sack.py); Linux: tcp_sack
    backlog_limit: int = 4096  # the largest accept queue listen() may ask for (somaxconn)
    syn_queue_limit: int = 256  # half-open connections per listener (tcp_max_syn_backlog)
    # SYN cookies (RFC 4987, syncookie.py), Linux's tcp_syncookies: 0 never, 1 when the
    # listener's SYN queue is full, 2 for every SYN
    syncookies: int = SYNCOOKIES_WHEN_FULL
    challenge_ack_limit: int = 1000  # challenge ACKs per second, stack-wide (RFC 5961 §7)
    fin_wait_2_timeout: float = 60.0  # orphaned FIN-WAIT-2 connections die (tcp_fin_timeout)
    max_out_of_order: int = 256  # separate out-of-order blocks held per connection
    # Out-of-order bytes held by all connections together; past it, out-of-order data is
    # dropped (counted) until some drains (Linux bounds all TCP buffers with tcp_mem).
    max_out_of_order_total: int = 64 * 1024 * 1024
    # Connections in TIME-WAIT at once, stack-wide; past it, a connection closes without
    # waiting (counted). Linux: tcp_max_tw_buckets (262144 on most hosts; each of ours is
    # a whole connection, so fewer).
    max_time_wait: int = 16384
    tail_loss_probe: bool = True  # RFC 8985 §7 (tlp.py); Linux: net.ipv4.tcp_early_retrans
    rcvbuf: int = DEFAULT_BUFFER  # default SO_RCVBUF, where autotuning starts
    rcvbuf_max: int = MAX_AUTOTUNED_BUFFER  # autotuning's limit (autotune.py; tcp_rmem[2])
    rcvbuf_autotune: bool = True  # Linux: net.ipv4.tcp_moderate_rcvbuf
    congestion_control: str = DEFAULT_ALGORITHM  # net.ipv4.tcp_congestion_control
    sndbuf: int = DEFAULT_BUFFER  # default SO_SNDBUF
    keepalive_idle: float = 7200.0  # default TCP_KEEPIDLE, seconds (tcp_keepalive_time)
    keepalive_interval: float = 75.0  # default TCP_KEEPINTVL, seconds (tcp_keepalive_intvl)
    keepalive_count: int = 9  # default TCP_KEEPCNT (tcp_keepalive_probes)

    def __post_init__(self) -> None:
        positive = ("msl", "initial_rto", "min_rto", "max_rto", "delayed_ack",
                    "keepalive_idle", "keepalive_interval", "fin_wait_2_timeout")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"tcp {name} must be positive")
        if self.delayed_ack > 0.5:
            raise ConfigError("tcp delayed_ack is at most 0.5 s (RFC 1122 §4.2.3.2)")
        if self.min_rto > self.max_rto:
            raise ConfigError("tcp min_rto is above max_rto")
        at_least_one = ("max_retries", "syn_retries", "synack_retries", "backlog_limit",
                        "syn_queue_limit", "rcvbuf", "sndbuf", "keepalive_count",
                        "max_out_of_order", "max_out_of_order_total", "max_time_wait",
                        "rcvbuf_max")
        for name in at_least_one:
            if getattr(self, name) < 1:
                raise ConfigError(f"tcp {name} must be at least 1")
        if self.syncookies not in (SYNCOOKIES_NEVER, SYNCOOKIES_WHEN_FULL, SYNCOOKIES_ALWAYS):
            raise ConfigError(f"tcp syncookies is 0, 1 or 2, not {self.syncookies}")
        if not 88 <= self.default_mss <= 65495:
            raise ConfigError(f"tcp default_mss {self.default_mss} is out of range")
        if self.congestion_control not in ALGORITHMS:
            raise ConfigError(f"unknown tcp congestion control {self.congestion_control!r} "
                              f"(known: {', '.join(ALGORITHMS)})")

    def default_options(self) -> TcpSocketOptions:
        return TcpSocketOptions(
            keepalive_idle=self.keepalive_idle,
            keepalive_interval=self.keepalive_interval,
            keepalive_count=self.keepalive_count,
            rcvbuf=self.rcvbuf,
            sndbuf=self.sndbuf,
            congestion_control=self.congestion_control,
        )
