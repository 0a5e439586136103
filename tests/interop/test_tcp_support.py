"""The TCP lab bench checked on its own, Linux against Linux: before we blame the stack for a
failed transfer, we know the kernel-side programs, the loss rules and the veth reference work.

Every test here runs in a KernelPair: two namespaces joined by a veth cable, 192.0.2.1 (near,
the clients and the loss rules) and 192.0.2.2 (far, the servers, where the stack would be).
"""

from __future__ import annotations

import pytest

from tests.interop.kernel_peer import requires_root
from tests.interop.tcp_support import (
    CHARGEN_SERVER,
    CYCLE_CLIENT,
    DISCARD_SERVER,
    ECHO_CLIENT,
    ECHO_SERVER,
    MB,
    RECV_CLIENT,
    SEND_CLIENT,
    SINK_SERVER,
    STACK_IP,
    KernelPair,
    KernelProgram,
    drop_tcp,
    dropped_segments,
    known_bytes,
    parse_result,
    sha256_hex,
)

FAR_IP = STACK_IP  # in a KernelPair, the far kernel stands where the stack would


def test_known_bytes_are_reproducible_and_do_not_repeat():
    data = known_bytes(1 << 20, seed=7)
    assert data == known_bytes(1 << 20, seed=7)
    assert data != known_bytes(1 << 20, seed=8)
    # No period of a few kilobytes: a block moved by a whole "period" would go unseen.
    assert data[:4096] not in data[4096:]


def test_drop_tcp_rejects_a_rate_that_is_not_a_percentage():
    with pytest.raises(ValueError):
        drop_tcp(None, 101)  # type: ignore[arg-type]  # checked before the namespace is used


@requires_root
def test_kernel_echo_server_returns_every_byte_to_the_echo_client():
    with KernelPair() as pair, KernelProgram(pair.far, ECHO_SERVER, FAR_IP, "7") as server:
        server.wait_for_line("listening")
        client = KernelProgram(pair.near, ECHO_CLIENT, FAR_IP, "7", str(5 * MB), "1")
        with client:
            result = parse_result(client.wait(60, "the echo client"))
    assert result["received"] == str(5 * MB)
    assert result["received_sha"] == result["sent_sha"] == sha256_hex(known_bytes(5 * MB, 1))


@requires_root
def test_sink_server_sees_what_the_sender_sent_and_discard_closes_after_eof():
    with KernelPair() as pair:
        with KernelProgram(pair.far, SINK_SERVER, FAR_IP, "9") as sink:
            sink.wait_for_line("listening")
            with KernelProgram(pair.near, SEND_CLIENT, FAR_IP, "9", str(MB), "2") as sender:
                sent = parse_result(sender.wait(30, "the sender"))
            received = parse_result(sink.wait(30, "the sink server"))
        assert received["received_sha"] == sent["sent_sha"] and received["received"] == str(MB)
        with KernelProgram(pair.far, DISCARD_SERVER, FAR_IP, "9") as discard:
            discard.wait_for_line("listening")
            with KernelProgram(pair.near, SEND_CLIENT, FAR_IP, "9", str(MB), "2") as sender:
                assert parse_result(sender.wait(30, "the sender"))["answered"] == "0"


@requires_root
def test_chargen_server_feeds_the_receiving_client():
    with KernelPair() as pair, KernelProgram(pair.far, CHARGEN_SERVER, FAR_IP, "19") as chargen:
        chargen.wait_for_line("listening")
        with KernelProgram(pair.near, RECV_CLIENT, FAR_IP, "19", str(3 * MB)) as client:
            assert parse_result(client.wait(30, "the receiving client"))["received"] == str(3 * MB)


@requires_root
def test_cycle_client_completes_its_connect_echo_close_cycles():
    with KernelPair() as pair, KernelProgram(pair.far, ECHO_SERVER, FAR_IP, "7") as server:
        server.wait_for_line("listening")
        with KernelProgram(pair.near, CYCLE_CLIENT, FAR_IP, "7", "200") as client:
            result = parse_result(client.wait(60, "the cycle client"))
    assert result["cycles"] == "200" and float(result["per_second"]) > 0


@requires_root
def test_loss_rules_drop_segments_both_ways_and_linux_still_delivers_every_byte():
    """The loss rules are real (their counters rise in both directions), and a correct TCP
    (Linux's) still delivers 5 MB intact through them: what we then ask of the stack."""
    with KernelPair() as pair, KernelProgram(pair.far, ECHO_SERVER, FAR_IP, "7") as server:
        server.wait_for_line("listening")
        drop_tcp(pair.near, 5)
        assert dropped_segments(pair.near) == {"to_far": 0, "from_far": 0}
        with KernelProgram(pair.near, ECHO_CLIENT, FAR_IP, "7", str(5 * MB), "3") as client:
            result = parse_result(client.wait(60, "the echo client under 5% loss"))
        dropped = dropped_segments(pair.near)
    assert result["received_sha"] == result["sent_sha"] and result["received"] == str(5 * MB)
    assert dropped["to_far"] > 0 and dropped["from_far"] > 0, dropped
