"""Lab 5, part 2: datagrams in. Demultiplexing (RFC 768; RFC 1122 §4.1.3.5 leaves the rules
to the host, the lab follows Linux), checksums (§4.1.3.4), malformed datagrams, broadcasts
(§4.1.3.6), the receive buffer, and port unreachable for closed ports (§4.1.3.1)."""

from __future__ import annotations

from lab05_bench import LIMITED_BROADCAST, Udp

from netstack.stages.udp import DATAGRAM_OVERHEAD
from netstack.testing import icmp_unreachable
from netstack.wire import icmp as wire_icmp

PORT_UNREACHABLE = wire_icmp.CODE_PORT_UNREACHABLE


def test_a_datagram_reaches_the_endpoint_bound_to_its_port(variant):
    """The payload and its sender (ip string, port) are queued; nothing is sent back."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.h.receive(u.frame(b"hello"))
    u.h.expect_nothing()
    u.queued(ep, [(b"hello", (str(variant.peer_ip), u.peer_port))])
    u.h.expect_counter("udp.rx.datagrams", 1)


def test_queued_bytes_count_the_payload_and_the_overhead(variant):
    """ep.queued_bytes grows by len(payload) + DATAGRAM_OVERHEAD for each datagram."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.h.receive(u.frame(b"a" * 10))
    u.h.receive(u.frame(b"b" * 30))
    u.check("ep.queued_bytes", lambda s: ep.queued_bytes, 40 + 2 * DATAGRAM_OVERHEAD)


def test_datagrams_stay_in_arrival_order(variant):
    """Three datagrams from two senders: queued in the order they came."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.h.receive(u.frame(b"one"))
    u.h.receive(u.frame(b"two", src=variant.other_ip))
    u.h.receive(u.frame(b"three", src_port=u.peer_port ^ 1))
    u.queued(ep, [(b"one", (str(variant.peer_ip), u.peer_port)),
                  (b"two", (str(variant.other_ip), u.peer_port)),
                  (b"three", (str(variant.peer_ip), u.peer_port ^ 1))])


def test_an_exact_bind_wins_over_the_wildcard(variant):
    """With SO_REUSEADDR, 0.0.0.0:p and our_ip:p: the exact one gets unicast."""
    u = Udp(variant)
    wildcard = u.bind(None, u.port, reuse=True)
    exact = u.bind(str(variant.our_ip), u.port, reuse=True)
    u.h.receive(u.frame(b"for the exact one"))
    u.payloads(exact, [b"for the exact one"])
    u.payloads(wildcard, [])
    u.close(exact)
    u.h.receive(u.frame(b"now the wildcard"))
    u.payloads(wildcard, [b"now the wildcard"])


def test_a_connected_endpoint_gets_only_its_peer_and_wins(variant):
    """A connected endpoint beats an unconnected one for its peer's datagrams, and gets
    nothing from anyone else (another port or another host)."""
    u = Udp(variant)
    listener = u.bind(None, u.port, reuse=True)
    connected = u.bind(None, u.port, reuse=True)
    u.connect(connected, str(variant.peer_ip), u.peer_port)
    u.h.receive(u.frame(b"from the peer"))
    u.h.receive(u.frame(b"another port", src_port=u.peer_port ^ 1))
    u.h.receive(u.frame(b"another host", src=variant.other_ip))
    u.payloads(connected, [b"from the peer"])
    u.payloads(listener, [b"another port", b"another host"])


def test_the_later_bind_wins_a_tie(variant):
    """Two wildcard binds with SO_REUSEADDR: unicast goes to the newer one (Linux)."""
    u = Udp(variant)
    older = u.bind(None, u.port, reuse=True)
    newer = u.bind(None, u.port, reuse=True)
    u.h.receive(u.frame(b"unicast"))
    u.payloads(newer, [b"unicast"])
    u.payloads(older, [])


def test_a_closed_port_gets_icmp_port_unreachable(variant):
    """Nobody on the port: ICMP type 3 code 3 back to the sender, counted."""
    u = Udp(variant)
    u.h.receive(u.frame(b"anyone?"))
    u.h.expect(icmp_unreachable(PORT_UNREACHABLE, dst=variant.peer_ip))
    u.h.expect_counter("udp.drop.no_socket", 1)
    u.h.expect_counter("udp.tx.port_unreachable", 1)


def test_port_unreachable_quotes_the_datagram(variant):
    """RFC 792/1122: the error carries the offending IP header and the UDP header after it."""
    u = Udp(variant)
    frame = u.frame(b"quote me")
    u.h.receive(frame)
    error = u.h.expect(icmp_unreachable(PORT_UNREACHABLE, dst=variant.peer_ip))
    quoted = error[14 + 20 + 8:]
    u.check("the quote starts with our datagram's IP and UDP headers",
            lambda s: quoted[:28] == frame[14:14 + 28], True)


def test_a_connected_endpoint_alone_answers_strangers_with_port_unreachable(variant):
    """The only endpoint on the port is connected to the peer: a datagram from another
    host finds no endpoint, so it earns port unreachable."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.connect(ep, str(variant.peer_ip), u.peer_port)
    u.h.receive(u.frame(b"stranger", src=variant.other_ip))
    u.h.expect(icmp_unreachable(PORT_UNREACHABLE, dst=variant.other_ip))
    u.payloads(ep, [])


def test_a_closed_endpoint_gets_nothing_and_its_port_is_unreachable(variant):
    """After close: the datagram is not queued on it, and the sender hears port unreachable."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.close(ep)
    u.h.receive(u.frame(b"too late"))
    u.h.expect(icmp_unreachable(PORT_UNREACHABLE, dst=variant.peer_ip))
    u.payloads(ep, [])


def test_a_zero_checksum_means_no_checksum_and_is_accepted(variant):
    """RFC 768: checksum 0 means the sender computed none."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    u.h.receive(u.frame(b"unchecked", checksum=False))
    u.payloads(ep, [b"unchecked"])


def test_a_bad_checksum_is_dropped_silently_and_counted(variant):
    """RFC 1122 §4.1.3.4: discard, no ICMP; counter udp.drop.bad_checksum."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    good = u.frame(b"payload")
    u.h.receive(good[:-1] + bytes([good[-1] ^ 0xFF]), note="UDP datagram, last byte flipped")
    u.h.expect_nothing()
    u.h.expect_counter("udp.drop.bad_checksum", 1)
    u.h.expect_counter("udp.rx.datagrams", 0)
    u.payloads(ep, [])


def test_a_bad_checksum_to_a_closed_port_is_not_answered(variant):
    """A corrupt datagram says nothing reliable about its port: no port unreachable."""
    u = Udp(variant)
    good = u.frame(b"payload")
    u.h.receive(good[:-1] + bytes([good[-1] ^ 0x01]), note="UDP datagram, one bit flipped")
    u.h.expect_nothing()
    u.h.expect_counter("udp.drop.bad_checksum", 1)


def test_a_truncated_header_is_dropped(variant):
    """Seven bytes of UDP header: counter udp.drop.truncated, no answer."""
    u = Udp(variant)
    u.bind(None, u.port)
    datagram = u.frame(b"payload")[34:]
    u.h.receive(u.ip_frame(datagram[:7]), note="IPv4 proto 17 with 7 bytes")
    u.h.expect_nothing()
    u.h.expect_counter("udp.drop.truncated", 1)


def test_a_length_field_longer_than_the_packet_is_dropped(variant):
    """UDP length = the real length + 1: counter udp.drop.bad_length, no answer."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    d = u.frame(b"payload")[34:]
    d = d[:4] + (len(d) + 1).to_bytes(2, "big") + d[6:]
    u.h.receive(u.ip_frame(d), note="UDP length one past the packet")
    u.h.expect_nothing()
    u.h.expect_counter("udp.drop.bad_length", 1)
    u.payloads(ep, [])


def test_a_length_field_below_the_header_size_is_dropped(variant):
    """UDP length 7 (less than its own header): counter udp.drop.bad_length."""
    u = Udp(variant)
    u.bind(None, u.port)
    d = u.frame(b"payload")[34:]
    u.h.receive(u.ip_frame(d[:4] + (7).to_bytes(2, "big") + d[6:]), note="UDP length 7")
    u.h.expect_nothing()
    u.h.expect_counter("udp.drop.bad_length", 1)


def test_bytes_after_the_udp_length_are_padding(variant):
    """An IP payload longer than the UDP length: the datagram is the first `length` bytes."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    d = u.frame(b"data", checksum=False)[34:]
    u.h.receive(u.ip_frame(d + b"PADDING"), note="UDP 'data' and 7 bytes of padding")
    u.payloads(ep, [b"data"])


def test_a_subnet_broadcast_reaches_every_listener_on_the_port(variant):
    """RFC 1122 §4.1.3.6: each endpoint on the port gets a copy."""
    u = Udp(variant)
    a = u.bind(None, u.port, reuse=True)
    b = u.bind(None, u.port, reuse=True)
    other = u.bind(None, u.port + 1)
    u.h.receive(u.frame(b"everyone", dst=u.subnet_broadcast))
    u.payloads(a, [b"everyone"])
    u.payloads(b, [b"everyone"])
    u.payloads(other, [])


def test_a_broadcast_to_a_closed_port_is_never_answered(variant):
    """No port unreachable about a broadcast (RFC 1122 §4.1.3.1, §3.2.2)."""
    u = Udp(variant)
    u.h.receive(u.frame(b"anyone?", dst=LIMITED_BROADCAST))
    u.h.expect_nothing()
    u.h.expect_counter("udp.drop.no_socket", 1)


def test_a_full_receive_buffer_drops_and_counts(variant):
    """rcvbuf holds two 100-byte datagrams (with overhead): the third is dropped,
    ep.drops and udp.drop.rcvbuf_full count it."""
    u = Udp(variant, udp_rcvbuf=2 * (100 + DATAGRAM_OVERHEAD))
    ep = u.bind(None, u.port)
    for i in range(3):
        u.h.receive(u.frame(bytes([65 + i]) * 100))
    u.payloads(ep, [b"A" * 100, b"B" * 100])
    u.check("ep.drops", lambda s: ep.drops, 1)
    u.h.expect_counter("udp.drop.rcvbuf_full", 1)
    u.h.expect_nothing()  # a full buffer is not a closed port


def test_reading_makes_room_again(variant):
    """After the application takes a datagram, the next one fits."""
    u = Udp(variant, udp_rcvbuf=100 + DATAGRAM_OVERHEAD)
    ep = u.bind(None, u.port)
    u.h.receive(u.frame(b"1" * 100))
    u.h.receive(u.frame(b"2" * 100))
    u.do("ep.take() (the application reads one)", lambda s, now: ep.take()[0][:4])
    u.h.receive(u.frame(b"3" * 100))
    u.payloads(ep, [b"3" * 100])


def test_a_datagram_bigger_than_the_buffer_still_fits_an_empty_queue(variant):
    """Like Linux: the limit applies only when something is queued already."""
    u = Udp(variant, udp_rcvbuf=64)
    ep = u.bind(None, u.port)
    u.h.receive(u.frame(b"x" * 500))
    u.h.receive(u.frame(b"y"))
    u.payloads(ep, [b"x" * 500])


def test_on_event_is_called_for_each_queued_datagram(variant):
    """The socket layer learns of new data through ep.on_event."""
    u = Udp(variant)
    ep = u.bind(None, u.port)
    calls = []
    u.do("ep.on_event = a recorder", lambda s, now: setattr(ep, "on_event",
                                                           lambda: calls.append(len(ep.queue))))
    u.h.receive(u.frame(b"one"))
    u.h.receive(u.frame(b"two"))
    u.check("the queue length at each on_event", lambda s: calls, [1, 2])

