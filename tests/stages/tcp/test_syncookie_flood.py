"""A flood of 30,000 spoofed SYNs at a listening port, no I/O: receive calls only. With SYN
cookies the listener's state stays bounded (the SYN queue fills, then nothing more is
kept), and a real client that connects right after gets in at once, through a cookie.

This is a memory test, not a timed one: it measures what the flood leaves allocated
(tracemalloc), never how long it took."""

import gc
import tracemalloc
from ipaddress import IPv4Address

from netstack.stages.tcp import TcpState
from netstack.testing.tcp import tcp_frame
from netstack.wire.tcp import FLAG_ACK, FLAG_SYN, MssOption

from .states import PEER_ISN, STACK_ISN, listen

FLOOD = 30_000
MEMORY_BOUND = 5 * 1024 * 1024  # bytes the flood may leave allocated
# Once the SYN queue is full, only cookies go out: the 29,000 SYNs after the first 1,000
# may leave next to nothing (a few counters' worth; one connection is several KB).
COOKIE_PHASE_BOUND = 64 * 1024
QUEUE_FULL_BY = 1_000


def spoofed_syns(stack_ip: IPv4Address, stack_mac: bytes, stack_port: int) -> list[bytes]:
    """SYNs from 198.51.100.1-254, each source port used once per address."""
    frames = []
    for i in range(FLOOD):
        src = IPv4Address(f"198.51.100.{1 + i % 254}")
        frames.append(tcp_frame(src, stack_ip, 1024 + i // 254, stack_port, seq=i * 7919,
                                flags=FLAG_SYN, options=(MssOption(1460),),
                                dst_mac=stack_mac))
    return frames


def test_a_30000_syn_flood_keeps_state_bounded_and_a_real_client_gets_in_at_once():
    s = listen()  # the defaults: syncookies=1, a SYN queue of 256
    stack = s.harness.stack
    frames = spoofed_syns(stack.config.address.ip, stack.config.mac, 80)
    limit = s.tcp.config.syn_queue_limit

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i, frame in enumerate(frames):
        if i == QUEUE_FULL_BY:
            gc.collect()
            queue_full = tracemalloc.get_traced_memory()[0]
        stack.receive(frame, s.now)
        while stack.outgoing:  # the SYN-ACKs leave (a port would take them)
            mbuf = stack.outgoing.popleft()
            stack.pool.free(mbuf)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    grown, cookie_phase = after - before, after - queue_full
    tracemalloc.stop()

    counters = stack.counters
    assert len(s.listener.half_open) == limit
    assert s.tcp.connection_count == limit, "only the SYN queue holds connections"
    assert counters["tcp.syncookies.sent"] == FLOOD - limit
    assert counters["tcp.conn.passive_open"] == limit
    assert grown < MEMORY_BOUND, f"the flood left {grown} bytes allocated"
    assert cookie_phase < COOKIE_PHASE_BOUND, \
        f"{FLOOD - QUEUE_FULL_BY} cookie SYNs left {cookie_phase} bytes allocated"

    # A real client now: answered with a cookie at once, and established by its ACK.
    s.peer.send(FLAG_SYN, seq=PEER_ISN, options=(MssOption(1460),))
    syn_ack = s.peer.expect(FLAG_SYN | FLAG_ACK, ack=PEER_ISN + 1)
    assert syn_ack.seq != STACK_ISN  # a cookie, not a half-open connection
    s.peer.send(FLAG_ACK, seq=PEER_ISN + 1, ack=syn_ack.seq + 1, data=b"GET /")
    conn = s.listener.accept_queue.popleft()
    assert conn.state == TcpState.ESTABLISHED and conn.read_app(10) == b"GET /"
    assert counters["tcp.syncookies.validated"] == 1
    assert s.tcp.connection_count == limit + 1
