"""TcpStage builds connections and their parts from the stack's units (StackConfig.impl): a
replacement reaches every connection, and TCP_CONGESTION still picks per socket."""

from netstack.stages.tcp.congestion import Reno
from netstack.stages.tcp.connection import TcpConnection
from netstack.stages.tcp.cubic import Cubic
from netstack.stages.tcp.receiver import Receiver
from netstack.stages.tcp.rto import RtoEstimator
from netstack.stages.tcp.sender import Sender
from netstack.wire.tcp import FLAG_ACK, FLAG_PSH

from .states import established


class CountingReno(Reno):
    """Reno that counts its ACKs: a replacement we can recognise."""

    def __init__(self, mss: int) -> None:
        super().__init__(mss)
        self.acks = 0

    def on_ack(self, bytes_acked: int, now: float) -> None:
        self.acks += 1
        super().on_ack(bytes_acked, now)


class SlowRto(RtoEstimator):
    pass


class MarkedSender(Sender):
    pass


class MarkedReceiver(Receiver):
    pass


class MarkedConnection(TcpConnection):
    pass


def test_the_reference_units_by_default():
    s = established()
    assert type(s.conn) is TcpConnection
    assert type(s.conn.sender) is Sender and type(s.conn.receiver) is Receiver
    assert type(s.conn.sender.rto) is RtoEstimator and type(s.conn.sender.cc) is Reno


def test_replacements_reach_every_connection():
    impl = {"tcp_connection": MarkedConnection, "tcp_sender": MarkedSender,
            "tcp_receiver": MarkedReceiver, "tcp_rto": SlowRto}
    s = established(impl=impl)
    assert type(s.conn) is MarkedConnection
    assert type(s.conn.sender) is MarkedSender and type(s.conn.receiver) is MarkedReceiver
    assert type(s.conn.sender.rto) is SlowRto


def test_a_congestion_unit_replaces_the_default_and_is_told_of_acks():
    s = established(impl={"congestion": CountingReno})
    cc = s.conn.sender.cc
    assert type(cc) is CountingReno
    s.conn.options.nodelay = True
    s.conn.write_app(b"x" * 100)
    s.conn.app_did_write(s.now)
    s.peer.expect(FLAG_PSH | FLAG_ACK, seq=s.peer_ack)
    s.peer.send(FLAG_ACK, seq=s.peer_seq, ack=s.peer_ack + 100)
    assert cc.acks == 1


def test_tcp_congestion_cubic_still_picks_cubic_per_socket():
    s = established(impl={"congestion": CountingReno})
    s.conn.options.congestion_control = "cubic"
    s.tcp.change_congestion_control(s.conn)
    assert type(s.conn.sender.cc) is Cubic
