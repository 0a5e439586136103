"""The TCP connection unit's interface, and what a connection is given.

`ConnectionUnit` is what the stage, a listener and the socket layer use of a connection
(connection.py's TcpConnection is the reference). `ConnectionStage` and
`ConnectionListener` are the other direction: what a connection uses of the TCP stage
(stage.py) and of the listener that made it (listener.py), so connection.py imports
neither of them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Protocol

from netstack.stages.tcp.emit import SegmentWriter
from netstack.stages.tcp.segment_arrives import ResetSender

if TYPE_CHECKING:
    from netstack.counters import Counters
    from netstack.stages.tcp.autotune import ReceiveBufferTuner
    from netstack.stages.tcp.collaborators import TimerService
    from netstack.stages.tcp.config import TcpConfig, TcpSocketOptions
    from netstack.stages.tcp.congestion import CongestionControl
    from netstack.stages.tcp.isn import IsnGenerator
    from netstack.stages.tcp.options import PeerSynOptions
    from netstack.stages.tcp.receiver import ReceiverUnit
    from netstack.stages.tcp.rto import RtoUnit
    from netstack.stages.tcp.sender import SenderUnit
    from netstack.stages.tcp.state import TcpState
    from netstack.trace import Tracer
    from netstack.wire.tcp import TcpHeader

Address = tuple[IPv4Address, int]


class StackServices(Protocol):
    timers: TimerService
    counters: Counters
    trace: Tracer  # TCP_INFO's stats and the trace events share it (stats.py)


class ConnectionStage(SegmentWriter, ResetSender, Protocol):
    """What a connection uses of the TCP stage (stage.py): shared state, the units the
    stack chose, and the tables a connection leaves when it closes."""

    stack: StackServices
    config: TcpConfig
    isn_generator: IsnGenerator
    tso_max: int
    sender_class: Callable[..., SenderUnit]  # units.tcp_sender
    receiver_class: Callable[..., ReceiverUnit]  # units.tcp_receiver

    def mss_for(self, remote: IPv4Address) -> int: ...

    def window_shift_to_offer(self, rcvbuf: int, locked: bool = False) -> int | None: ...

    def new_rto_estimator(self) -> RtoUnit: ...

    def new_rcvbuf_tuner(self) -> ReceiveBufferTuner | None: ...

    def new_congestion_control(self, conn: ConnectionUnit) -> CongestionControl: ...

    def autotune_receive_buffer(self, conn: ConnectionUnit, now: float) -> None: ...

    def owe_ack(self, conn: ConnectionUnit) -> bool: ...

    def knows(self, conn: ConnectionUnit) -> bool: ...

    def admit_time_wait(self, conn: ConnectionUnit) -> bool:
        """May `conn` wait in TIME-WAIT? False (counted) when the stack holds
        `max_time_wait` such connections already."""

    def forget(self, conn: ConnectionUnit) -> None: ...

    def begin_tx_burst(self) -> None: ...

    def end_tx_burst(self) -> None: ...


class ConnectionListener(Protocol):
    """What a passive open's connection uses of its listener (listener.py)."""

    half_open: set  # the SYN queue, which the stage takes a closed connection out of

    def accept_queue_full(self) -> bool: ...

    def connection_established(self, conn: ConnectionUnit) -> None: ...


class ConnectionUnit(Protocol):
    """A TCP connection, as the stage, a listener and the socket layer use it.

    Built as `TcpConnection(stage, local, remote, iss, options, listener=None)`. The stage
    gives it every segment of its 4-tuple (`segment_arrives`) and ICMP errors; the socket
    layer moves bytes (`write_app`, `read_app`, holding `guard`) and asks for the rest on
    the loop thread. `on_event` is called (holding `guard`) after anything an application
    may wait for.
    """

    state: TcpState
    local: Address
    remote: Address
    reuse_addr: bool
    options: TcpSocketOptions
    guard: AbstractContextManager
    on_event: Callable[[], None] | None
    error: int | None
    soft_error: int | None
    listener: ConnectionListener | None
    sender: SenderUnit
    receiver: ReceiverUnit

    @property
    def readable(self) -> int: ...

    @property
    def at_eof(self) -> bool: ...

    @property
    def writable(self) -> int: ...

    def write_app(self, data: bytes | bytearray | memoryview) -> int: ...

    def read_app(self, max_n: int) -> bytes: ...

    def app_did_write(self, now: float) -> None: ...

    def app_did_read(self, now: float) -> None: ...

    def options_changed(self, now: float) -> None: ...

    def shutdown_write(self, now: float) -> None: ...

    def close(self, now: float) -> None: ...

    def abort(self, now: float) -> None: ...

    def open_active(self, now: float) -> None: ...

    def open_passive(self, header: TcpHeader, peer: PeerSynOptions, now: float) -> None: ...

    def open_from_cookie(self, ack: TcpHeader, peer: PeerSynOptions, now: float) -> None: ...

    def segment_arrives(self, header: TcpHeader, data: memoryview, now: float) -> None: ...

    def icmp_error(self, code: int, hard: bool, now: float) -> None: ...

    def release(self, now: float) -> None: ...
