"""A TCP connection for a lab's transcripts: the stack accepts one from a TcpPeer.

    peer, conn = accept_connection(h, variant, iss=1000, mss=1460, window=65535, rtt=0.1)

The peer (playing the kernel) sends its SYN from the variant's address and port, the stack
answers with `iss` (its ISN hook is set to it), one RTT passes, the peer's ACK completes the
handshake and the connection is taken from the listener's accept queue.
"""

from __future__ import annotations

from typing import Any

from labs.kit.variant import Variant
from netstack.testing import TcpPeer
from netstack.wire.tcp import FLAG_ACK, FLAG_SYN, MssOption

MOD = 2**32


def accept_connection(h: Any, variant: Variant, iss: int, mss: int, window: int,
                      rtt: float) -> tuple[TcpPeer, Any]:
    h.stack.tcp.isn_hook = lambda *_: iss
    listener = h.stack.tcp.listen(None, variant.stack_port, 8)
    peer = TcpPeer(h, variant.stack_port, variant.peer_port, variant.peer_ip, variant.peer_mac)
    isn = variant.peer_isn
    peer.send(FLAG_SYN, seq=isn, options=(MssOption(mss),), window=window)
    peer.expect(FLAG_SYN | FLAG_ACK, seq=iss, ack=(isn + 1) % MOD)
    h.advance(rtt)
    peer.send(FLAG_ACK, seq=(isn + 1) % MOD, ack=(iss + 1) % MOD, window=window)
    peer.expect_nothing()
    assert listener.accept_queue, "the stack did not accept the connection"
    return peer, listener.accept_queue.popleft()
