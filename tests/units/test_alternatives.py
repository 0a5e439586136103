"""Units are replaceable, and their own tests grade any implementation of them.

- a deliberately different, still correct implementation passes the unit's own tests, run
  exactly as a student would run them (`pytest ... --impl UNIT=path`, in a subprocess);
- a stack configured with a replacement really calls it (in-process, with a counting wrapper),
  and a stack with the reference in the same process does not;
- a broken replacement fails, and the failure is the transcript that names the first wrong
  step and the command that reruns just that test.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
from ipaddress import IPv4Interface
from types import SimpleNamespace

import pytest

from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.testing import Harness, icmp_echo_reply
from netstack.testing.frames import decode, icmp_echo_frame
from netstack.units import UNITS, load, missing_members
from tests.stages.common import OUR_IP, OUR_MAC, PEER_IP, PEER_MAC
from tests.units.alternatives import checksum_wide

ROOT = pathlib.Path(__file__).resolve().parents[2]
WIDE_CHECKSUM = "checksum=tests.units.alternatives.checksum_wide"
HEAP_ARP_TABLE = "arp_table=tests.units.alternatives.arp_table:HeapArpTable"
BALANCED_FRAGMENTATION = "fragmentation=tests.units.alternatives.fragmentation_balanced"
WRONG_MAC_ARP = "arp=tests.units.broken.arp:WrongMacArp"
OFF_BY_ONE_CHECKSUM = "checksum=tests.units.broken.checksum_off_by_one"
# The units whose interfaces this part of the stack defines (the TCP ones live in stages/tcp).
NON_TCP_UNITS = ["checksum", "ethernet_codec", "ipv4_codec", "udp_codec", "tcp_codec", "arp",
                 "arp_table", "ipv4", "fragmentation", "reassembly", "icmp", "udp"]


def run_pytest(*args: str) -> subprocess.CompletedProcess:
    """Run pytest on this tree in a fresh interpreter, as a student grading a unit would."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYTEST_CURRENT_TEST", None)
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )


def summary_line(result: subprocess.CompletedProcess) -> str:
    """pytest's last line: `12 passed in 0.9s`, `1 failed, 11 passed in 1.0s`..."""
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else f"(no output; stderr: {result.stderr.strip()})"


def assert_all_passed(result: subprocess.CompletedProcess) -> None:
    line = summary_line(result)
    assert re.fullmatch(r"=*\s*\d+ passed( in .*|, .*)?", line), result.stdout[-3000:]
    assert not re.search(r"failed|error", line), result.stdout[-3000:]
    assert result.returncode == 0, line


# --- every reference implements its interface ---------------------------------------------


@pytest.mark.parametrize("name", NON_TCP_UNITS)
def test_the_reference_of_each_unit_implements_its_interface(name: str) -> None:
    unit = UNITS[name]
    interface = load(unit.interface, name)
    assert missing_members(load(unit.reference, name), interface) == []


# --- a different, correct implementation passes the unit's own tests ---------------------


def test_a_checksum_summing_64_bit_words_passes_the_checksum_and_stage_tests() -> None:
    result = run_pytest("tests/unit/test_checksum_unit.py", "tests/stages/test_icmp.py",
                        "tests/stages/test_udp.py", "--impl", WIDE_CHECKSUM)
    assert_all_passed(result)


def test_an_arp_table_with_one_timer_over_a_heap_passes_the_arp_tests() -> None:
    result = run_pytest("tests/stages/test_arp_table.py", "tests/stages/test_arp.py",
                        "--impl", HEAP_ARP_TABLE)
    assert_all_passed(result)


def test_a_fragmenter_that_balances_its_pieces_passes_the_fragmentation_tests() -> None:
    result = run_pytest("tests/stages/test_fragmentation.py", "tests/stages/test_icmp.py",
                        "--impl", BALANCED_FRAGMENTATION)
    assert_all_passed(result)


# --- a stack uses the replacement it is given, and only that stack -----------------------


def counting(module) -> tuple[SimpleNamespace, list[int]]:
    """A checksum unit that counts its calls, delegating to `module`."""
    calls: list[int] = []

    def ones_complement_sum(data, initial=0):
        calls.append(len(data))
        return module.ones_complement_sum(data, initial)

    def internet_checksum(data, initial=0):
        calls.append(len(data))
        return module.internet_checksum(data, initial)

    return SimpleNamespace(ones_complement_sum=ones_complement_sum,
                           internet_checksum=internet_checksum), calls


def ping(sequence: int, payload: bytes = b"") -> bytes:
    return icmp_echo_frame(OUR_MAC, PEER_MAC, PEER_IP, OUR_IP, 7, sequence, payload)


def make_stack(**impl) -> Stack:
    config = StackConfig(mac=OUR_MAC, address=IPv4Interface(f"{OUR_IP}/24"),
                         static_arp={PEER_IP: PEER_MAC}, impl=impl)
    return Stack(config, MbufPool(32))


def test_a_stack_given_a_checksum_sums_every_header_with_it_and_another_stack_does_not() -> None:
    wrapped, calls = counting(checksum_wide)
    ours, reference = make_stack(checksum=wrapped), make_stack()
    h = Harness(ours)
    h.receive(ping(1, b"abc" * 20))
    # IPv4 verifies the header, ICMP the message; the reply's ICMP and IPv4 headers are summed.
    assert len(calls) >= 4
    h.expect(icmp_echo_reply(sequence=1, payload=b"abc" * 20))  # decoded (and checked) by the reference

    calls.clear()
    other = Harness(reference)
    other.receive(ping(2))
    other.expect(icmp_echo_reply(sequence=2))
    assert calls == []  # two stacks, two checksum units: nothing global changed


def test_a_udp_datagram_sent_by_a_stack_is_summed_by_its_checksum_unit() -> None:
    wrapped, calls = counting(checksum_wide)
    stack = make_stack(checksum=wrapped)
    endpoint = stack.udp.bind(None, 5000)
    stack.udp.send(endpoint, b"hello", (PEER_IP, 9), 0.0)
    frame = stack.outgoing.popleft().tobytes()
    # Two sums: the UDP datagram with its pseudo-header (13 bytes), and the IPv4 header (20).
    assert sorted(calls) == [8 + 5, 20]
    assert "error" not in decode(frame) and decode(frame)["payload"][8:] == b"hello"


# --- a broken replacement fails with a transcript naming the first wrong step --------------


def test_an_arp_unit_answering_with_the_wrong_mac_fails_at_the_reply_step() -> None:
    test = "tests/stages/test_arp.py::test_reply_to_a_request_and_learn_the_sender"
    result = run_pytest(test, "--impl", WRONG_MAC_ARP)
    assert result.returncode == 1
    assert summary_line(result).startswith("1 failed")
    out = result.stdout
    assert "transcript (stack 192.0.2.2/24, immediate mode):" in out
    assert "1. t=0.000  receive   ARP request who-has 192.0.2.2 tell 192.0.2.1" in out
    assert "step 2 failed at t=0.000:" in out
    assert ("expected ARP reply 192.0.2.2 is-at 02:00:00:00:00:02, got ARP reply 192.0.2.2"
            " is-at 02:00:00:00:00:03") in out
    assert f"rerun just this test: pytest '{test}' --impl {WRONG_MAC_ARP}" in out


def test_a_checksum_off_by_one_fails_its_own_tests_and_the_stack_transcripts() -> None:
    own = run_pytest("-x", "tests/unit/test_checksum_unit.py", "--impl", OFF_BY_ONE_CHECKSUM)
    assert own.returncode == 1 and summary_line(own).startswith("1 failed")
    assert "FAILED tests/unit/test_checksum_unit.py::test_the_rfc_1071_example_sums_to_ddf2" \
        in own.stdout

    test = "tests/stages/test_icmp.py::test_echo_reply_copies_identifier_sequence_and_data"
    stage = run_pytest(test, "--impl", OFF_BY_ONE_CHECKSUM)
    assert stage.returncode == 1
    # The stack now refuses a correct request: the transcript stops at the missing reply.
    assert "1. t=0.000  receive   IPv4 192.0.2.1 > 192.0.2.2 ICMP echo request" in stage.stdout
    assert "step 2 failed at t=0.000:" in stage.stdout
    assert "got nothing" in stage.stdout
    assert f"rerun just this test: pytest '{test}' --impl {OFF_BY_ONE_CHECKSUM}" in stage.stdout


def test_a_bad_impl_argument_stops_pytest_with_one_line() -> None:
    result = run_pytest("tests/stages/test_arp.py", "--impl", "arp=tests.units.nowhere:Arp")
    assert result.returncode == 4  # pytest's usage error: no test ran
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert errors == ["ERROR: unit 'arp': cannot import 'tests.units.nowhere':"
                      " ModuleNotFoundError: No module named 'tests.units.nowhere'"]
