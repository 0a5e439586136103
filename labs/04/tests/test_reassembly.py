"""Lab 4, part 2: putting fragments back together (RFC 791 §3.2, RFC 815), safely.

Most tests play the peer: they cut an ICMP echo request with the test's own fragmenter
(lab04_frames.cut), feed the fragments to the stack in some order, and expect the echo
reply that only a correct reassembly produces (its data is the request's, byte for byte;
the request's ICMP checksum covers every byte, so a wrong byte means no reply at all).
A few call your Reassembler directly (`stack.ipv4.reassembler`) to look at what it returns.

Implementation-defined (see HANDOUT.md), and accepted either way:
- overlapping fragments: discard the whole datagram (RFC 5722's rule, the reference) or
  keep the bytes that arrived first; never let later bytes overwrite earlier ones;
- the timeout runs from the first fragment (the reference, Linux) or is refreshed by later
  fragments (RFC 791's timer), so it fires between `timeout` after the first fragment and
  `timeout` after the last;
- when a limit is reached: evict the oldest incomplete datagram (the reference, Linux) or
  refuse the new one; either way the limit holds, each one is counted under
  `ipv4.drop.reassembly_*`, and the stack reassembles again once room is back.
"""

from __future__ import annotations

from lab04_frames import (
    PROTO_TEST,
    check,
    cut,
    cut_at,
    datagram,
    echo,
    frame,
    frames,
    pattern,
    piece,
)

from labs.kit import make_harness
from netstack.testing import decode, describe_frame, icmp_echo_reply, icmp_time_exceeded
from netstack.testing.matchers import icmp_unreachable
from netstack.wire import icmp as wire_icmp
from netstack.wire.ipv4 import IPv4Header

LIMIT_COUNTERS = "ipv4.drop.reassembly_"  # + limit / evicted / memory in the reference


def receiver(variant, **config):
    """A harness whose stack knows the peer's MAC, so replies leave without ARP."""
    return make_harness(variant, peer_known=True, **config)


def timeout_for(variant) -> float:
    """30 s (Linux's ipfrag_time) publicly; a hidden variant picks another, so a unit that
    hard-codes 30 instead of using its `timeout` argument fails there."""
    return 30.0 if variant.public else variant.rng.choice([10.0, 20.0, 45.0, 60.0])


def ident_for(variant) -> int:
    return variant.rng.randrange(1, 0x10000)


def feed(h, variant, pieces, order=None) -> None:
    for index in order if order is not None else range(len(pieces)):
        h.receive(frames(variant, [pieces[index]])[0])


def expect_reply(h, data: bytes, sequence: int = 1) -> None:
    h.expect(icmp_echo_reply(sequence=sequence, payload=data))


def expect_original_or_nothing(h, data: bytes, why: str) -> None:
    """What an implementation-defined policy may do: deliver the original bytes (so the
    echo reply carries them) or nothing at all; never a datagram with other bytes."""
    def look(stack, now):
        sent = h.drain()
        if not sent:
            return
        check(len(sent) == 1, f"expected at most one reply, got {len(sent)}: "
              + "; ".join(describe_frame(f) for f in sent))
        problem = icmp_echo_reply(payload=data).mismatch(sent[0])
        check(problem is None, f"{why}: {problem}")

    h.call(f"the stack sent nothing, or an echo reply with the original data ({why})", look)


def reassembler_add(h, header: IPv4Header, payload, results: list) -> None:
    """Call your Reassembler's add() directly, keeping what it returned."""
    h.call(f"reassembler.add({'MF ' if header.more_fragments else ''}offset "
           f"{header.fragment_offset}, {len(payload)} bytes)",
           lambda s, now: results.append(s.ipv4.reassembler.add(header, payload, now)))


def limit_drops(h) -> int:
    counters = h.stack.counters.matching(LIMIT_COUNTERS)
    return sum(v for k, v in counters.items() if k != "ipv4.drop.reassembly_timeout")


# --- order ---------------------------------------------------------------------------------


def test_fragments_in_order_make_one_echo_reply(variant):
    """Three fragments, in order: one echo reply whose data is the request's."""
    h = receiver(variant)
    data = pattern(1000)
    pieces = cut(*echo(variant, ident_for(variant), data), 336)
    feed(h, variant, pieces)
    expect_reply(h, data)
    h.expect_nothing()


def test_fragments_in_reverse_order(variant):
    """The last fragment first: its offset and MF clear tell the total length at once."""
    h = receiver(variant)
    data = pattern(1000, 1)
    pieces = cut(*echo(variant, ident_for(variant), data), 200)
    feed(h, variant, pieces, reversed(range(len(pieces))))
    expect_reply(h, data)
    h.expect_nothing()


def test_fragments_in_random_orders(variant):
    """Five datagrams, each in an order drawn from the variant's random generator."""
    h = receiver(variant)
    for sequence in range(1, 6):
        data = pattern(1200, sequence)
        pieces = cut(*echo(variant, ident_for(variant), data, sequence=sequence), 96)
        order = list(range(len(pieces)))
        variant.rng.shuffle(order)
        feed(h, variant, pieces, order)
        expect_reply(h, data, sequence)
    h.expect_nothing()


def test_the_first_fragment_last(variant):
    """Everything but fragment zero, then fragment zero: it completes the datagram."""
    h = receiver(variant)
    data = pattern(900, 2)
    pieces = cut(*echo(variant, ident_for(variant), data), 304)
    feed(h, variant, pieces, [1, 2, 0])
    expect_reply(h, data)


def test_two_interleaved_datagrams_from_one_source(variant):
    """Two datagrams with different identifications, their fragments alternating."""
    h = receiver(variant)
    ident = ident_for(variant)
    a = cut(*echo(variant, ident, pattern(700, 3), sequence=1), 256)
    b = cut(*echo(variant, (ident + 1) & 0xFFFF, pattern(700, 4), sequence=2), 256)
    for x, y in zip(a, b, strict=True):
        feed(h, variant, [x, y])
    expect_reply(h, pattern(700, 3), 1)
    expect_reply(h, pattern(700, 4), 2)
    h.expect_nothing()


def test_tiny_8_byte_fragments(variant):
    """The smallest legal fragments: 8 bytes each (26 of them for 200 bytes of data)."""
    h = receiver(variant)
    data = pattern(200, 5)
    pieces = cut(*echo(variant, ident_for(variant), data), 8)
    order = list(range(len(pieces)))
    variant.rng.shuffle(order)
    feed(h, variant, pieces, order)
    expect_reply(h, data)


def test_uneven_cut_points(variant):
    """Fragments of different sizes (any multiple of 8 is legal): 8, 512, 64, the rest."""
    h = receiver(variant)
    data = pattern(1100, 6)
    pieces = cut_at(*echo(variant, ident_for(variant), data), [8, 520, 584])
    feed(h, variant, pieces, [2, 0, 3, 1])
    expect_reply(h, data)


def test_the_largest_datagram_65535_bytes(variant):
    """65515 bytes of IP payload (65535 with the header): the largest legal datagram
    reassembles (its reply goes back in fragments too)."""
    h = receiver(variant)
    data = pattern(65535 - 20 - 8, 7)
    pieces = cut(*echo(variant, ident_for(variant), data), 1480)
    feed(h, variant, pieces)
    h.expect_reassembled(icmp_echo_reply(payload=data))


# --- duplicates and overlaps -------------------------------------------------------------


def test_exact_duplicates_are_ignored(variant):
    """Every fragment sent twice (a retransmitting link): one reply, not two, and a late
    copy of the last fragment after completion does not make another reply now."""
    h = receiver(variant)
    data = pattern(800, 8)
    pieces = cut(*echo(variant, ident_for(variant), data), 208)
    feed(h, variant, pieces, [0, 0, 1, 2, 1, 3])
    expect_reply(h, data)
    feed(h, variant, pieces, [3])
    h.expect_nothing()


def test_a_partial_overlap_never_rewrites_earlier_bytes(variant):
    """[0, 24) then [16, 40) whose first 8 bytes are different: discard the datagram, or
    keep the bytes that came first. The request's checksum covers the original bytes, so
    a reply means they were kept."""
    h = receiver(variant)
    data = pattern(64, 9)
    header, message = echo(variant, ident_for(variant), data)
    forged = message[16:24][::-1] + bytes(8)
    feed(h, variant, [(piece(header, 0, True), message[0:24]),
                      (piece(header, 16, True), bytes(a ^ 0xFF for a in forged[:8]) +
                       message[24:40]),
                      (piece(header, 40, False), message[40:])])
    expect_original_or_nothing(h, data, "a partial overlap")


def test_the_reassembler_returns_first_bytes_or_nothing_after_an_overlap(variant):
    """The same, calling add() directly: it returns None for every fragment (discard), or
    the datagram with the first-arrived bytes; the overlap's later bytes never win."""
    h = receiver(variant)
    header = IPv4Header(variant.peer_ip, variant.our_ip, PROTO_TEST,
                        identification=ident_for(variant))
    payload = pattern(48, 10)
    results: list = []
    reassembler_add(h, piece(header, 0, True), payload[:24], results)
    reassembler_add(h, piece(header, 16, True), b"\xee" * 8 + payload[24:32], results)
    reassembler_add(h, piece(header, 32, False), payload[32:], results)
    done = [r for r in results if r is not None]
    check(len(done) <= 1, f"add() returned a datagram {len(done)} times")
    if done:
        check(bytes(done[0][1]) == payload, "the returned payload has the later bytes of the "
              "overlap (or others): keep what arrived first, or discard the datagram")


def test_same_range_with_different_bytes(variant):
    """A fragment repeated with other bytes is an overlap, not a duplicate."""
    h = receiver(variant)
    data = pattern(64, 11)
    header, message = echo(variant, ident_for(variant), data)
    feed(h, variant, [(piece(header, 0, True), message[0:32]),
                      (piece(header, 0, True), bytes(32)),
                      (piece(header, 32, False), message[32:])])
    expect_original_or_nothing(h, data, "the same range with different bytes")


def test_a_fragment_inside_another(variant):
    """[8, 16) after [0, 32) held: fully covered, with other bytes."""
    h = receiver(variant)
    data = pattern(64, 12)
    header, message = echo(variant, ident_for(variant), data)
    feed(h, variant, [(piece(header, 0, True), message[0:32]),
                      (piece(header, 8, True), bytes(8)),
                      (piece(header, 32, False), message[32:])])
    expect_original_or_nothing(h, data, "a fragment inside another")


def test_an_overlap_with_identical_bytes(variant):
    """[0, 32) and [16, 48) agreeing on their common bytes: RFC 5722 still discards, a
    first-wins reassembler completes with the original; both are accepted."""
    h = receiver(variant)
    data = pattern(64, 13)
    header, message = echo(variant, ident_for(variant), data)
    feed(h, variant, [(piece(header, 0, True), message[0:32]),
                      (piece(header, 16, True), message[16:48]),
                      (piece(header, 48, False), message[48:])])
    expect_original_or_nothing(h, data, "an overlap with identical bytes")


def test_two_last_fragments_that_disagree(variant):
    """Two fragments with MF clear ending at different places: never a datagram of the
    wrong length."""
    h = receiver(variant)
    data = pattern(64, 14)
    header, message = echo(variant, ident_for(variant), data)
    feed(h, variant, [(piece(header, 32, False), message[32:56]),
                      (piece(header, 32, False), message[32:]),
                      (piece(header, 0, True), message[0:32])])
    expect_original_or_nothing(h, data, "two last fragments")


def test_after_an_overlap_a_new_datagram_still_works(variant):
    """Whatever the overlap policy, the next datagram (a new identification) reassembles."""
    h = receiver(variant)
    ident = ident_for(variant)
    header, message = echo(variant, ident, pattern(64, 15))
    feed(h, variant, [(piece(header, 0, True), message[0:32]),
                      (piece(header, 8, True), bytes(32))])
    h.expect_nothing()
    data = pattern(500, 16)
    feed(h, variant, cut(*echo(variant, (ident + 1) & 0xFFFF, data, sequence=2), 128))
    expect_reply(h, data, 2)


# --- bad fragments -------------------------------------------------------------------------


def test_a_non_last_fragment_must_carry_a_multiple_of_8_bytes(variant):
    """A fragment with MF set and 13 bytes is malformed (RFC 791 §3.2): dropped, so the
    datagram is not completed with it; the proper fragment then completes it."""
    h = receiver(variant)
    data = pattern(60, 17)
    header, message = echo(variant, ident_for(variant), data)
    feed(h, variant, [(piece(header, 0, True), message[0:13]),
                      (piece(header, 16, False), message[16:])])
    h.expect_nothing()
    feed(h, variant, [(piece(header, 0, True), message[0:16])])
    expect_reply(h, data)


def test_an_empty_fragment_with_mf_changes_nothing(variant):
    """A zero-length fragment with MF set carries nothing: the datagram completes from the
    real fragments, with the original bytes."""
    h = receiver(variant)
    data = pattern(100, 18)
    header, message = echo(variant, ident_for(variant), data)
    feed(h, variant, [(piece(header, 0, True), b""), (piece(header, 56, True), b"")])
    feed(h, variant, cut(header, message, 56))
    expect_reply(h, data)


def test_an_empty_last_fragment_ends_the_datagram(variant):
    """A last fragment may carry no data: MF clear at offset 104 says the payload is 104
    bytes, and the fragments before it complete the datagram."""
    h = receiver(variant)
    data = pattern(96, 19)
    header, message = echo(variant, ident_for(variant), data)
    feed(h, variant, [(piece(header, 104, False), b""),
                      (piece(header, 0, True), message[:56]),
                      (piece(header, 56, True), message[56:])])
    expect_reply(h, data)


def test_a_fragment_past_65535_bytes_is_dropped_and_not_held(variant):
    """Offset 65528 plus 16 bytes would make a datagram over 65535 bytes (the Ping of
    Death): dropped (counted under ipv4.drop.*), and nothing of it kept in memory."""
    h = receiver(variant)
    header, _ = datagram(variant, ident_for(variant), 1, b"")
    h.receive(frame(variant, piece(header, 65528, False), pattern(16)))
    h.expect_nothing()
    held = {}
    h.call("look at the reassembler", lambda s, now: held.update(
        datagrams=len(s.ipv4.reassembler), memory=s.ipv4.reassembler.memory_used,
        drops=sum(s.counters.matching("ipv4.drop.").values())))
    check(held["drops"] >= 1, "the fragment was not counted as a drop (ipv4.drop.<reason>)")
    check(held["memory"] == 0 and held["datagrams"] == 0,
          f"the reassembler holds {held['datagrams']} datagram(s), {held['memory']} bytes "
          "after a fragment it must drop")


# --- keys: what makes two fragments belong together --------------------------------------


def test_same_identification_from_two_sources_kept_apart(variant):
    """The peer and another host both send identification X, interleaved: the key is
    (source, destination, protocol, identification), so each gets its own reply."""
    h = make_harness(variant, static_arp={variant.peer_ip: variant.peer_mac,
                                          variant.other_ip: variant.other_mac})
    ident = ident_for(variant)
    a_data, b_data = pattern(600, 20), pattern(600, 21)
    a = cut(*echo(variant, ident, a_data, sequence=1), 200)
    b = cut(*echo(variant, ident, b_data, sequence=2, src=variant.other_ip), 200)
    for x, y in zip(a, b, strict=True):
        h.receive(frames(variant, [x])[0])
        h.receive(frames(variant, [y], src_mac=variant.other_mac)[0])
    first = h.expect(icmp_echo_reply(payload=a_data, sequence=1))
    second = h.expect(icmp_echo_reply(payload=b_data, sequence=2))
    check(decode(first)["ip.dst"] == variant.peer_ip and decode(second)["ip.dst"] ==
          variant.other_ip, "each reply must go back to the host that sent its request")


def test_same_identification_two_protocols_kept_apart(variant):
    """Identification X carries an ICMP echo and, interleaved, a protocol-253 datagram:
    the echo is answered and the other earns a protocol unreachable."""
    h = receiver(variant)
    ident = ident_for(variant)
    data = pattern(400, 22)
    a = cut(*echo(variant, ident, data), 208)
    b = cut(*datagram(variant, ident, PROTO_TEST, pattern(416, 23)), 208)
    for x, y in zip(a, b, strict=True):
        feed(h, variant, [x, y])
    expect_reply(h, data)
    h.expect(icmp_unreachable(wire_icmp.CODE_PROTOCOL_UNREACHABLE, dst=variant.peer_ip))


# --- what add() returns --------------------------------------------------------------------


def test_the_reassembled_header_has_mf_and_offset_cleared(variant):
    """add() returns (the first fragment's header with MF clear and offset 0, the whole
    payload) for the fragment that completes it, None before."""
    h = receiver(variant)
    header = IPv4Header(variant.peer_ip, variant.our_ip, PROTO_TEST, ttl=33,
                        identification=ident_for(variant))
    payload = pattern(40, 24)
    results: list = []
    reassembler_add(h, piece(header, 16, False), payload[16:], results)
    reassembler_add(h, piece(header, 0, True), payload[:16], results)
    check(results[0] is None, f"add() returned {results[0]!r} for an incomplete datagram")
    check(results[1] is not None, "add() returned None for the fragment completing it")
    whole, data = results[1]
    check(not whole.more_fragments and whole.fragment_offset == 0,
          f"the returned header has MF {whole.more_fragments}, offset {whole.fragment_offset}")
    check((whole.src, whole.dst, whole.protocol, whole.identification, whole.ttl) ==
          (header.src, header.dst, header.protocol, header.identification, 33),
          f"the returned header is not the first fragment's: {whole}")
    check(bytes(data) == payload, "the returned payload is not the fragments' bytes in order")


def test_the_reassembler_copies_what_it_is_given(variant):
    """The caller may reuse its buffer after add() (a receive ring): the reassembler keeps
    a copy, so changing the buffer later does not change the datagram."""
    h = receiver(variant)
    header = IPv4Header(variant.peer_ip, variant.our_ip, PROTO_TEST,
                        identification=ident_for(variant))
    payload = pattern(32, 25)
    buffer = bytearray(payload[:16])
    results: list = []
    reassembler_add(h, piece(header, 0, True), memoryview(buffer), results)
    h.call("the caller reuses its buffer", lambda s, now: buffer.__setitem__(
        slice(0, 16), bytes(16)))
    reassembler_add(h, piece(header, 16, False), payload[16:], results)
    check(results[1] is not None and bytes(results[1][1]) == payload,
          "the datagram changed with the caller's buffer: copy the fragment's bytes")


def test_len_counts_the_datagrams_waiting(variant):
    """len(reassembler) is how many datagrams wait for more fragments, and memory_used
    comes back to 0 once they complete."""
    h = receiver(variant)
    ident = ident_for(variant)
    a = cut(*echo(variant, ident, pattern(300, 26), sequence=1), 104)
    b = cut(*echo(variant, (ident + 1) & 0xFFFF, pattern(300, 27), sequence=2), 104)
    feed(h, variant, [a[0], b[0]])
    seen = {}
    h.call("len(reassembler)", lambda s, now: seen.update(two=len(s.ipv4.reassembler)))
    feed(h, variant, a[1:])
    expect_reply(h, pattern(300, 26), 1)
    h.call("len(reassembler)", lambda s, now: seen.update(one=len(s.ipv4.reassembler)))
    feed(h, variant, b[1:])
    expect_reply(h, pattern(300, 27), 2)
    h.call("len and memory_used", lambda s, now: seen.update(
        zero=len(s.ipv4.reassembler), memory=s.ipv4.reassembler.memory_used))
    check((seen["two"], seen["one"], seen["zero"]) == (2, 1, 0),
          f"len() went {seen['two']}, {seen['one']}, {seen['zero']}; expected 2, 1, 0")
    check(seen["memory"] == 0, f"memory_used is {seen['memory']} with nothing held")


# --- time ----------------------------------------------------------------------------------


def test_a_hole_never_filled_times_out_with_time_exceeded(variant):
    """First and last fragments, never the middle: after `timeout` seconds, one ICMP time
    exceeded (code 1, fragment reassembly time exceeded) to the sender, counted as
    ipv4.drop.reassembly_timeout, quoting fragment zero's header and first 8 bytes."""
    timeout = timeout_for(variant)
    h = receiver(variant, reassembly_timeout=timeout)
    ident = ident_for(variant)
    pieces = cut(*echo(variant, ident, pattern(600, 28), identifier=0x77), 208)
    feed(h, variant, [pieces[2], pieces[0]])
    h.advance(timeout - 0.5)
    h.expect_nothing()
    h.advance(0.5)
    error = h.expect(icmp_time_exceeded(wire_icmp.CODE_REASSEMBLY_TIME_EXCEEDED,
                                        dst=variant.peer_ip))
    h.expect_nothing()
    h.expect_counter("ipv4.drop.reassembly_timeout", 1)
    quote = decode(error)["payload"]
    check(int.from_bytes(quote[4:6], "big") == ident,
          f"the quoted header has identification {int.from_bytes(quote[4:6], 'big')}, "
          f"expected {ident} (fragment zero's)")
    check(int.from_bytes(quote[6:8], "big") & 0x1FFF == 0 and quote[6] & 0x20,
          "the quoted header must be fragment zero's: offset 0, MF set")
    check(quote[20] == wire_icmp.TYPE_ECHO_REQUEST and quote[24:26] == b"\x00\x77",
          "the quote must end with the first 8 bytes of fragment zero's data (the echo "
          "request's ICMP header)")


def test_no_time_exceeded_without_fragment_zero(variant):
    """Only non-first fragments arrived: the datagram times out silently (RFC 792: the
    error must quote the transport header, which only fragment zero has), still counted."""
    timeout = timeout_for(variant)
    h = receiver(variant, reassembly_timeout=timeout)
    pieces = cut(*echo(variant, ident_for(variant), pattern(600, 29)), 208)
    feed(h, variant, [pieces[1], pieces[2]])
    h.advance(timeout + 1)
    h.expect_nothing()
    h.expect_counter("ipv4.drop.reassembly_timeout", 1)


def test_fragments_arriving_just_before_the_timeout_complete(variant):
    """The last missing fragment at `timeout` - 1 s still completes the datagram, and no
    time exceeded follows."""
    timeout = timeout_for(variant)
    h = receiver(variant, reassembly_timeout=timeout)
    data = pattern(600, 30)
    pieces = cut(*echo(variant, ident_for(variant), data), 208)
    feed(h, variant, pieces[:2])
    h.advance(timeout - 1)
    feed(h, variant, pieces[2:])
    expect_reply(h, data)
    h.advance(timeout * 2)
    h.expect_nothing()
    h.expect_counter("ipv4.drop.reassembly_timeout", 0)


def test_a_late_fragment_after_the_timeout_does_not_complete(variant):
    """Once timed out, the datagram is gone: its missing fragment, arriving late, starts
    a new incomplete datagram instead of completing the old one."""
    timeout = timeout_for(variant)
    h = receiver(variant, reassembly_timeout=timeout)
    pieces = cut(*echo(variant, ident_for(variant), pattern(600, 31)), 208)
    feed(h, variant, [pieces[1], pieces[2]])
    h.advance(timeout + 1)
    feed(h, variant, [pieces[0]])
    h.expect_nothing()


def test_the_timeout_runs_from_the_first_fragment_or_is_refreshed(variant):
    """A datagram trickling in: fragments at 0 and `timeout` - 2 s. The time exceeded
    comes no earlier than `timeout` after the first fragment and no later than `timeout`
    after the last (implementation-defined, see the handout); exactly one."""
    timeout = timeout_for(variant)
    h = receiver(variant, reassembly_timeout=timeout)
    pieces = cut(*echo(variant, ident_for(variant), pattern(600, 32)), 208)
    feed(h, variant, [pieces[0]])
    h.advance(timeout - 2)
    feed(h, variant, [pieces[1]])
    h.advance(1)
    h.expect_nothing()
    h.advance(timeout)
    h.expect(icmp_time_exceeded(wire_icmp.CODE_REASSEMBLY_TIME_EXCEEDED, dst=variant.peer_ip))
    h.expect_nothing()


# --- limits: a flood of fragments that never complete ------------------------------------


def test_the_number_of_incomplete_datagrams_is_capped(variant):
    """With room for 4 incomplete datagrams, 10 arrive (non-first fragments, so no errors
    follow): never more than 4 held, and each of the 6 refused or evicted is counted
    (ipv4.drop.reassembly_*). Evicting the oldest or refusing the new are both accepted."""
    timeout = timeout_for(variant)
    h = receiver(variant, reassembly_timeout=timeout, reassembly_max_datagrams=4)
    ident = ident_for(variant)
    most = []
    for n in range(10):
        header, message = echo(variant, (ident + n) & 0xFFFF, pattern(600, n))
        h.receive(frame(variant, piece(header, 208, True), message[208:416]))
        h.call("len(reassembler)", lambda s, now: most.append(len(s.ipv4.reassembler)))
    check(max(most) <= 4, f"the reassembler held {max(most)} datagrams; the limit is 4")
    check(limit_drops(h) == 6, f"expected 6 datagrams refused or evicted, counted under "
          f"{LIMIT_COUNTERS}*; counters: {h.stack.counters.matching('ipv4.drop.')}")
    h.expect_nothing()


def test_the_stack_reassembles_again_after_a_flood(variant):
    """After the flood's datagrams time out (or were evicted), a new datagram completes:
    a limit must not lock the stack out for good."""
    timeout = timeout_for(variant)
    h = receiver(variant, reassembly_timeout=timeout, reassembly_max_datagrams=4)
    ident = ident_for(variant)
    for n in range(8):
        header, message = echo(variant, (ident + n) & 0xFFFF, pattern(600, n))
        h.receive(frame(variant, piece(header, 208, True), message[208:416]))
    h.advance(timeout + 1)
    h.expect_nothing()
    data = pattern(600, 33)
    feed(h, variant, cut(*echo(variant, (ident + 100) & 0xFFFF, data), 208))
    expect_reply(h, data)


def test_memory_used_stays_under_the_memory_limit(variant):
    """A memory limit of 8 KB and 20 incomplete datagrams of 1 KB each: memory_used never
    goes over the limit, and what did not fit is counted under ipv4.drop.reassembly_*."""
    h = receiver(variant, reassembly_memory_limit=8192, reassembly_timeout=timeout_for(variant))
    ident = ident_for(variant)
    used = []
    for n in range(20):
        header, _ = datagram(variant, (ident + n) & 0xFFFF, PROTO_TEST, b"")
        h.receive(frame(variant, piece(header, 1024, True), pattern(1024, n)))
        h.call("memory_used", lambda s, now: used.append(s.ipv4.reassembler.memory_used))
    check(max(used) <= 8192, f"memory_used reached {max(used)}, over the limit 8192")
    check(used[-1] > 0, "the reassembler holds nothing at all: keep what fits")
    check(limit_drops(h) > 0, f"nothing was counted under {LIMIT_COUNTERS}*; counters: "
          f"{h.stack.counters.matching('ipv4.drop.')}")


def test_memory_is_given_back_after_a_timeout(variant):
    """Datagrams that time out give their bytes back: memory_used is 0 afterwards, and
    len(reassembler) too."""
    timeout = timeout_for(variant)
    h = receiver(variant, reassembly_timeout=timeout)
    ident = ident_for(variant)
    for n in range(3):
        header, _ = datagram(variant, (ident + n) & 0xFFFF, PROTO_TEST, b"")
        h.receive(frame(variant, piece(header, 512, True), pattern(512, n)))
    h.advance(timeout + 1)
    seen = {}
    h.call("len and memory_used", lambda s, now: seen.update(
        n=len(s.ipv4.reassembler), memory=s.ipv4.reassembler.memory_used))
    check(seen == {"n": 0, "memory": 0}, f"after the timeout: {seen}")
    h.expect_counter("ipv4.drop.reassembly_timeout", 3)
