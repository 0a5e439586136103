"""Hostile TCP segments from the wire: the stack neither crashes nor hangs, answers as RFC 9293
and RFC 5961 say, counts what it drops, and serves a normal connection afterwards.

The attacker is scapy (tests/robustness/tcp_attacker.py), run by the kernel namespace's
Python, writing frames into the TAP and sniffing the stack's answers. Linux must keep out of
the attacker's conversations, so an nftables rule drops the RSTs it would send for the
attacker's source ports, and its own clients use ports outside them. Each test gets its own
`netstack run --service tcp-echo:7` (port 9 stays closed); tshark checks every frame the
stack sent when it stops.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.capture_check import assert_capture_clean, frames_from
from tests.interop.kernel_peer import STACK_IP, STACK_MAC, KernelPeer, ping_ok, requires_root
from tests.interop.tcp_support import KernelProgram, parse_result

pytestmark = requires_root

ATTACKER = Path(__file__).with_name("tcp_attacker.py")
FLOOD = 3000  # segments per flood: thousands, built once and sent in one burst

QUIET_KERNEL = """
table inet quiet {
    chain out {
        type filter hook output priority 0; policy accept;
        tcp sport { 20000-29999, 40000-40999 } tcp flags & rst == rst drop
    }
}
"""

# A normal client: connect to the echo service, echo a line, close.
ECHO_ONCE = """
import socket, sys
with socket.create_connection((sys.argv[1], 7), timeout=20) as s:
    s.sendall(b"still serving?\\n")
    print(s.recv(100).decode().strip(), flush=True)
"""

# Holds one connection open across the flood: echo, wait for a line on stdin, echo again.
HELD_CONNECTION = """
import socket, sys
s = socket.create_connection((sys.argv[1], 7), timeout=20)
s.sendall(b"before")
assert s.recv(100) == b"before"
print("port", s.getsockname()[1], flush=True)
sys.stdin.readline()
s.sendall(b"after")
print("result echoed=" + s.recv(100).decode(), flush=True)
s.close()
"""


@pytest.fixture
def bench(tmp_path) -> Iterator[KernelPeer]:
    with KernelPeer(tmp_path, "--service", "tcp-echo:7") as peer:
        # Linux's own clients stay clear of the attacker's source ports.
        peer.ns.sysctl("net.ipv4.ip_local_port_range", "50000 60999")
        subprocess.run(["ip", "netns", "exec", peer.ns.name, "nft", "-f", "-"], input=QUIET_KERNEL,
                       text=True, check=True, capture_output=True, timeout=10)
        yield peer


def attack(bench: KernelPeer, case: str, *args: object, timeout: float = 60) -> dict:
    result = bench.run(sys.executable, str(ATTACKER), bench.tap, STACK_MAC, case, *map(str, args),
                       timeout=timeout)
    assert result.returncode == 0, f"the attacker failed ({case}):\n{result.stdout}{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_still_serving_and_stop(bench: KernelPeer) -> dict[str, int]:
    """After the attack: ping and a normal echo connection work; stop; the capture is clean."""
    assert ping_ok(bench.ping("-c", "2", "-i", "0.2"), 2), "the stack stopped answering pings"
    echoed = bench.run(sys.executable, "-c", ECHO_ONCE, STACK_IP, timeout=30)
    assert echoed.stdout.strip() == "still serving?", f"a normal connection failed: {echoed.stderr}"
    counters = bench.stop()  # exit status 0: no crash; the stack also stopped when asked
    assert_capture_clean(bench.capture, bench.mac)
    return counters


def flags_of(answers: list[dict]) -> list[str]:
    return [a["flags"] for a in answers]


def test_data_before_the_handshake_gets_a_reset_never_an_echo(bench):
    answers = attack(bench, "before_handshake")
    # RFC 9293 §3.10.7.2 (LISTEN): an ACK gets <SEQ=SEG.ACK><CTL=RST>; a segment with neither
    # SYN, RST nor ACK is dropped silently.
    assert [(a["flags"], a["seq"]) for a in answers["40001"]] == [("R", 5000)], answers["40001"]
    assert answers["40002"] == [], "a flagless segment to a listener must be dropped silently"
    # §3.10.7.1 (CLOSED): the same for an ACK; without one, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><RST,ACK>.
    assert [(a["flags"], a["seq"]) for a in answers["40003"]] == [("R", 7000)], answers["40003"]
    assert [(a["flags"], a["seq"], a["ack"]) for a in answers["40004"]] == [("RA", 0, 4008)], \
        answers["40004"]
    assert not any(a["len"] for a in sum(answers.values(), [])), "the stack sent data to a stranger"
    assert_still_serving_and_stop(bench)


def test_a_syn_with_every_flag_set_is_ignored(bench):
    answers = attack(bench, "every_flag")
    # It carries RST: a listener ignores a RST (§3.10.7.2), and a RST is never answered.
    assert answers["40010"] == [], f"the stack answered a SYN+FIN+RST+...: {answers}"
    assert_still_serving_and_stop(bench)
    assert frames_from(bench.capture, bench.mac, "tcp.dstport == 40010") == 0


def test_bad_data_offsets_are_dropped_and_counted(bench):
    answers = attack(bench, "bad_offsets")
    assert answers == {"40020": [], "40021": []}, f"a SYN with a bad data offset was answered: {answers}"
    counters = assert_still_serving_and_stop(bench)
    assert counters.get("tcp.drop.bad_data_offset", 0) == 2, \
        {k: v for k, v in counters.items() if k.startswith("tcp.")}


def test_overlapping_retransmissions_keep_the_bytes_received_first(bench):
    """Six segments overlap each other with different bytes, in order and out of order. The
    stack keeps, for every byte, the first copy it received; the echo shows the stream."""
    result = attack(bench, "overlap")
    assert "error" not in result, result
    expected = "AAAAAAAAAA" "BBBBB" "CCCCCCCCCC" "EEEEE" "DDDDDDDDDD" "EEEEE"
    assert result["echoed"] == expected, (
        f"the stream the stack delivered is {result['echoed']!r}; the first copy of each "
        f"byte gives {expected!r}")
    assert result["highest_ack"] == len(expected), f"the stack acknowledged {result['highest_ack']} bytes"
    assert_still_serving_and_stop(bench)


def test_a_blind_rst_flood_does_not_reset_an_established_connection(bench):
    """RFC 5961 §3: only a RST exactly at RCV.NXT resets; one elsewhere in the window gets a
    (rate-limited) challenge ACK, and one outside it is dropped. 3,000 random guesses at a
    live connection and 3,000 at the listener change nothing."""
    with KernelProgram(bench.ns, HELD_CONNECTION, STACK_IP, stdin=True) as held:
        port = int(held.wait_for_line("port").split()[1])
        assert 50000 <= port <= 60999
        flood = attack(bench, "rst_flood", port, FLOOD)
        held.proc.stdin.write(b"go on\n")
        held.proc.stdin.flush()
        assert parse_result(held.wait(20, "the held connection"))["echoed"] == "after", \
            "the connection did not survive the RST flood"
    assert flood["rsts_from_stack"] == 0, "the stack answered a RST with a RST"
    counters = assert_still_serving_and_stop(bench)
    tcp = {k: v for k, v in counters.items() if k.startswith("tcp.")}
    # Every RST at the listener is ignored and counted (§3.10.7.2).
    assert tcp.get("tcp.drop.rst_to_listener") == FLOOD, tcp
    # At the connection: outside the window, dropped; inside but not exact, challenged
    # (or dropped once the stack-wide limit of 1,000 challenge ACKs a second is reached).
    judged = (tcp.get("tcp.drop.rst_out_of_window", 0) + tcp.get("tcp.drop.rst_not_exact", 0))
    assert judged == FLOOD, f"{judged} of {FLOOD} RSTs at the connection were counted: {tcp}"
    assert tcp.get("tcp.rx.rst", 0) == 0, "a RST was accepted"
    assert flood["challenge_acks"] <= 1000 + 100, flood


def test_a_syn_flood_is_bounded_counted_and_the_listener_recovers(bench):
    """3,000 SYNs from ports Linux stays quiet about: the SYN queue (256 by default) fills,
    and every later SYN is answered with a SYN cookie that keeps no state (listener.py;
    tests/stages/tcp/test_syncookies.py has syncookies=0, where they are dropped and
    counted). Then Linux is allowed to answer again: it resets each half-open connection
    when the stack retransmits its SYN-ACK, and a real client gets in."""
    flood = attack(bench, "syn_flood", FLOOD)
    # Beyond the queue's half-open connections, SYNs are answered too: with cookies.
    assert flood["answered_ports"] > 256, f"SYNs answered during the flood: {flood}"
    bench.ns.run(["nft", "delete", "table", "inet", "quiet"])
    counters = assert_still_serving_and_stop(bench)
    tcp = {k: v for k, v in counters.items() if k.startswith("tcp.")}
    # Every SYN became one of at most 256 half-open connections or got a cookie.
    assert tcp.get("tcp.drop.syn_queue_full", 0) == 0, tcp
    assert tcp.get("tcp.syncookies.sent", 0) >= flood["answered_ports"] - 256, tcp
    assert tcp.get("tcp.conn.passive_open", 0) <= 256 + 2, tcp  # the flood's, and the client's
