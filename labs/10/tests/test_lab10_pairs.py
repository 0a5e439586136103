"""Lab 10, the capstone: your stack (every unit you wrote) against the reference stack and
against itself, on an emulated cable in virtual time.

The 1 MB challenge: a megabyte over TCP in each direction of each pairing, through 2% loss
each way, must arrive with the sha256 it left with. Before it, the layers one at a time:
ARP and ping (which needs ARP, IPv4 and ICMP), a ping large enough to be fragmented (IPv4
fragmentation and reassembly), and UDP echo.
"""

from __future__ import annotations

from lab10_bench import MB, Pair

LOSS = 0.02


def test_ping_from_the_reference_to_your_stack(variant):
    """The reference pings you: your ARP answers its request, your ICMP answers each echo."""
    pair = Pair(variant, "yours", "reference")
    answered = pair.ping(pair.right, pair.left, 5)
    pair.check("echo replies received", lambda: sorted(answered), [1, 2, 3, 4, 5])
    pair.close()


def test_ping_from_your_stack_to_the_reference(variant):
    """You ping the reference: your ARP asks for its address first, your IPv4 routes."""
    pair = Pair(variant, "yours", "reference")
    answered = pair.ping(pair.left, pair.right, 5)
    pair.check("echo replies received", lambda: sorted(answered), [1, 2, 3, 4, 5])
    pair.close()


def test_a_ping_too_big_for_one_frame_both_ways(variant):
    """4000 data bytes: each echo is fragmented by the sender and reassembled by the
    receiver, both ways (yours <-> reference)."""
    pair = Pair(variant, "yours", "reference")
    there = pair.ping(pair.left, pair.right, 3, size=4000)
    back = pair.ping(pair.right, pair.left, 3, size=4000, identifier=0x4C42)
    pair.check("big echo replies received (yours -> reference, reference -> yours)",
               lambda: (sorted(there), sorted(back)), ([1, 2, 3], [1, 2, 3]))
    pair.close()


def test_udp_echo_served_by_your_stack(variant):
    """The reference sends 5 datagrams to your UDP port 7; your stack sends each back."""
    pair = Pair(variant, "yours", "reference")
    back = pair.udp_echo(pair.right, pair.left, 5)
    pair.check("datagrams echoed, in order", lambda: len(back), 5)
    pair.close()


def test_udp_echo_asked_by_your_stack(variant):
    """Your stack sends 5 datagrams from an ephemeral port to the reference's echo."""
    pair = Pair(variant, "yours", "reference")
    back = pair.udp_echo(pair.left, pair.right, 5)
    pair.check("datagrams echoed, in order", lambda: len(back), 5)
    pair.close()


def test_100_kb_each_way_on_a_clean_cable(variant):
    """Before the challenge: 100 KB yours -> reference, then reference -> yours, no loss."""
    pair = Pair(variant, "yours", "reference")
    sent, got = pair.transfer(pair.left, pair.right, 100_000, port=5001)
    pair.check("sha256 yours -> reference", lambda: got, sent)
    sent, got = pair.transfer(pair.right, pair.left, 100_000, port=5002)
    pair.check("sha256 reference -> yours", lambda: got, sent)
    pair.close()


def test_1_mb_from_your_stack_to_the_reference_through_loss(variant):
    """The 1 MB challenge, yours -> reference, 2% loss each way: sha256 equal."""
    pair = Pair(variant, "yours", "reference", loss=LOSS)
    sent, got = pair.transfer(pair.left, pair.right, MB)
    pair.check("sha256 of what the reference received", lambda: got, sent)
    pair.close()


def test_1_mb_from_the_reference_to_your_stack_through_loss(variant):
    """The 1 MB challenge, reference -> yours, 2% loss each way: sha256 equal."""
    pair = Pair(variant, "yours", "reference", loss=LOSS)
    sent, got = pair.transfer(pair.right, pair.left, MB)
    pair.check("sha256 of what your stack received", lambda: got, sent)
    pair.close()


def test_1_mb_between_two_of_your_stacks_through_loss(variant):
    """The 1 MB challenge, yours -> yours, 2% loss each way: sha256 equal."""
    pair = Pair(variant, "yours", "yours", loss=LOSS)
    sent, got = pair.transfer(pair.left, pair.right, MB)
    pair.check("sha256 of what your other stack received", lambda: got, sent)
    pair.close()
