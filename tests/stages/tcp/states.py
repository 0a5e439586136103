"""Bring a stack's connection into each of the eleven states, with a TcpPeer on the other
end. Sequence numbers are fixed: the stack's ISN is 1000, the peer's 5000."""

from __future__ import annotations

from dataclasses import dataclass

from netstack.stages.tcp import TcpConfig, TcpConnection, TcpListener, TcpStage, TcpState
from netstack.testing import Harness, TcpPeer
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_SYN, MssOption

from .support import PEER_PORT, STACK_PORT, make_peer

STACK_ISN = 1000
PEER_ISN = 5000
ACK, SYN, FIN = FLAG_ACK, FLAG_SYN, FLAG_FIN


@dataclass
class Scene:
    """Where a test starts: `peer_seq` is the peer's next sequence number (our rcv_nxt),
    `peer_ack` what the peer acknowledges when all we sent arrived (our snd_nxt)."""

    harness: Harness
    peer: TcpPeer
    tcp: TcpStage
    conn: TcpConnection | None
    listener: TcpListener | None
    peer_seq: int
    peer_ack: int

    @property
    def now(self) -> float:
        return self.harness.now


def listen(config: TcpConfig | None = None, **kw) -> Scene:
    h, peer, tcp = make_peer(config, isn=STACK_ISN, **kw)
    listener = tcp.listen(None, STACK_PORT, 8)
    return Scene(h, peer, tcp, None, listener, PEER_ISN, STACK_ISN)


def syn_received(config: TcpConfig | None = None, **kw) -> Scene:
    s = listen(config, **kw)
    s.peer.send(SYN, seq=PEER_ISN, options=(MssOption(1460),))
    s.peer.expect(SYN | ACK, seq=STACK_ISN, ack=PEER_ISN + 1)
    (s.conn,) = s.tcp.connections()
    assert s.conn.state == TcpState.SYN_RECEIVED
    s.peer_seq, s.peer_ack = PEER_ISN + 1, STACK_ISN + 1
    return s


def established(config: TcpConfig | None = None, **kw) -> Scene:
    s = syn_received(config, **kw)
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack)
    assert s.listener is not None
    s.conn = s.listener.accept_queue.popleft()
    assert s.conn.state == TcpState.ESTABLISHED
    s.peer.expect_nothing()
    return s


def syn_sent(config: TcpConfig | None = None, **kw) -> Scene:
    h, peer, tcp = make_peer(config, isn=STACK_ISN, port=50000, **kw)
    conn = tcp.connect(None, 50000, peer.ip, PEER_PORT, h.now)
    peer.expect(SYN, seq=STACK_ISN)
    return Scene(h, peer, tcp, conn, None, PEER_ISN, STACK_ISN + 1)


def fin_wait_1(config: TcpConfig | None = None, **kw) -> Scene:
    s = established(config, **kw)
    assert s.conn is not None
    s.conn.shutdown_write(s.now)
    s.peer.expect(FIN | ACK, seq=s.peer_ack, ack=s.peer_seq)
    assert s.conn.state == TcpState.FIN_WAIT_1
    s.peer_ack += 1
    return s


def fin_wait_2(config: TcpConfig | None = None, **kw) -> Scene:
    s = fin_wait_1(config, **kw)
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack)
    s.peer.expect_nothing()
    assert s.conn is not None and s.conn.state == TcpState.FIN_WAIT_2
    return s


def close_wait(config: TcpConfig | None = None, **kw) -> Scene:
    s = established(config, **kw)
    s.peer.send(FIN | ACK, seq=s.peer_seq, ack=s.peer_ack)
    s.peer_seq += 1
    s.peer.expect(ACK, ack=s.peer_seq)
    assert s.conn is not None and s.conn.state == TcpState.CLOSE_WAIT
    return s


def closing(config: TcpConfig | None = None, **kw) -> Scene:
    s = fin_wait_1(config, **kw)
    s.peer.send(FIN | ACK, seq=s.peer_seq, ack=s.peer_ack - 1)  # our FIN not acked yet
    s.peer_seq += 1
    s.peer.expect(ACK, ack=s.peer_seq)
    assert s.conn is not None and s.conn.state == TcpState.CLOSING
    return s


def last_ack(config: TcpConfig | None = None, **kw) -> Scene:
    s = close_wait(config, **kw)
    assert s.conn is not None
    s.conn.close(s.now)
    s.peer.expect(FIN | ACK, seq=s.peer_ack, ack=s.peer_seq)
    s.peer_ack += 1
    assert s.conn.state == TcpState.LAST_ACK
    return s


def time_wait(config: TcpConfig | None = None, **kw) -> Scene:
    s = fin_wait_2(config, **kw)
    s.peer.send(FIN | ACK, seq=s.peer_seq, ack=s.peer_ack)
    s.peer_seq += 1
    s.peer.expect(ACK, ack=s.peer_seq)
    assert s.conn is not None and s.conn.state == TcpState.TIME_WAIT
    return s


def closed_port(config: TcpConfig | None = None, **kw) -> Scene:
    h, peer, tcp = make_peer(config, isn=STACK_ISN, **kw)
    return Scene(h, peer, tcp, None, None, PEER_ISN, STACK_ISN)


SETUPS = {
    TcpState.CLOSED: closed_port,
    TcpState.LISTEN: listen,
    TcpState.SYN_SENT: syn_sent,
    TcpState.SYN_RECEIVED: syn_received,
    TcpState.ESTABLISHED: established,
    TcpState.FIN_WAIT_1: fin_wait_1,
    TcpState.FIN_WAIT_2: fin_wait_2,
    TcpState.CLOSE_WAIT: close_wait,
    TcpState.CLOSING: closing,
    TcpState.LAST_ACK: last_ack,
    TcpState.TIME_WAIT: time_wait,
}
