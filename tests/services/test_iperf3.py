"""iperf3 on netstack, without root: the protocol's pieces alone, then netstack's client
against netstack's server on the memory link (tests/interop/test_iperf3_kernel.py runs
them against the real iperf3)."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time

import pytest

from netstack.api import Host
from netstack.services import ServiceRunner
from netstack.services.iperf3 import protocol as p
from netstack.services.iperf3.client import Iperf3Error, run_client
from tests.netns import unique_name

SERVER_IP = "192.0.2.2"


# --- the protocol, sans I/O ------------------------------------------------------------------
def test_cookies_states_and_json_frames():
    cookie = p.make_cookie(random.Random(1))
    assert len(cookie) == 37 and cookie.endswith(b"\0") and p.check_cookie(cookie) == cookie
    assert p.make_cookie(random.Random(1)) == cookie, "one seed, one cookie"
    for bad in (cookie[:-1], cookie[:-1] + b"x", b"!" * 36 + b"\0"):
        with pytest.raises(p.ProtocolError):
            p.check_cookie(bad)
    assert p.state_byte(p.ACCESS_DENIED) == b"\xff" and p.read_state(b"\xfe") == p.SERVER_ERROR
    frame = p.encode_json({"tcp": True})
    assert frame[:4] == len(frame[4:]).to_bytes(4, "big")
    assert p.decode_json(frame[4:]) == {"tcp": True}
    for length in (b"\0\0\0\0", (p.MAX_JSON + 1).to_bytes(4, "big")):
        with pytest.raises(p.ProtocolError):
            p.json_length(length)  # a hostile length is refused before anything is read
    with pytest.raises(p.ProtocolError):
        p.decode_json(b"[1, 2]")
    assert p.stream_ids(4) == [1, 3, 4, 5], "iperf3 skips 2"


def test_parameters_round_trip_and_what_is_not_supported_says_so():
    params = p.TestParams(udp=True, reverse=True, duration=3, bandwidth=10_000_000,
                          blksize=1200)
    assert p.TestParams.from_json(params.to_json()) == dataclass_copy(params)
    for bad, words in (({"tcp": True, "time": 1, "bidirectional": True}, "--bidir"),
                       ({"tcp": True, "num": 1000}, "-n/-k"),
                       ({"udp": True, "time": 1, "parallel": 2}, "UDP with -P"),
                       ({"tcp": True, "time": "soon"}, "bad test parameters"),
                       ({"tcp": True, "time": 1, "parallel": 0}, "out of range")):
        with pytest.raises(p.ProtocolError, match=words):
            p.TestParams.from_json(bad)


def dataclass_copy(params: p.TestParams) -> p.TestParams:
    return p.TestParams(udp=params.udp, reverse=params.reverse, duration=params.duration,
                        parallel=params.parallel, blksize=params.blksize,
                        bandwidth=params.bandwidth, client_version=params.client_version)


def test_the_udp_receiver_counts_loss_reordering_and_jitter():
    receiver = p.UdpReceiver()
    header = p.UDP_HEADER
    sent_at = 1000.0
    for count, delay in ((1, 0.010), (2, 0.010), (4, 0.012), (3, 0.010), (6, 0.010)):
        receiver.datagram(p.udp_datagram(header, count, sent_at + count, 100),
                          sent_at + count + delay)
    assert receiver.packets == 5 and receiver.bytes == 500
    assert receiver.out_of_order == 1, "3 came after 4"
    assert receiver.lost == 1, "5 never came"
    assert 0 < receiver.jitter < 0.002
    receiver.datagram(b"short", 0.0)
    assert receiver.packets == 5, "not an iperf3 datagram: not counted"


# --- netstack's client against netstack's server ---------------------------------------------
@pytest.fixture
def hosts():
    cable = unique_name("ipf")
    client = Host.open(f"memory:{cable}", "192.0.2.1/24", pool_size=4096)
    server = Host.open(f"memory:{cable}", f"{SERVER_IP}/24", pool_size=4096)
    runner = ServiceRunner.from_names(server, [("iperf3", p.DEFAULT_PORT)])
    runner.start()
    try:
        yield client, server
    finally:
        runner.stop()
        client.close()
        server.close()


@pytest.mark.parametrize("params", [
    p.TestParams(duration=1.0),
    p.TestParams(duration=1.0, reverse=True),
    p.TestParams(duration=1.0, parallel=2),
    p.TestParams(duration=1.0, udp=True, bandwidth=5_000_000, blksize=p.UDP_BLOCK),
], ids=["tcp", "reverse", "parallel", "udp"])
def test_client_and_server_agree_on_the_bytes(hosts, params):
    client, _server = hosts
    lines: list[str] = []
    result = run_client(client, SERVER_IP, params=params, report=lines.append)
    end = result["end"]
    sent, received = end["sum_sent"]["bytes"], end["sum_received"]["bytes"]
    assert sent > 0 and received > 0
    if params.udp:
        assert received == sent, "nothing lost on the memory link"
        rate = sent * 8 / end["sum_sent"]["seconds"]
        assert 0.8 * params.bandwidth < rate < 1.2 * params.bandwidth, "paced to -b"
        assert end["streams"][0]["receiver"]["lost_packets"] == 0
    else:
        in_flight = 2 * 1024 * 1024 * params.parallel  # send and receive buffers, at most
        assert sent - in_flight <= received <= sent
        assert len(end["streams"]) == params.parallel
        if not params.reverse:
            # Known (TCP_INFO's count), not iperf3's -1 for "this side cannot tell".
            assert end["streams"][0]["sender"]["retransmits"] >= 0, "from our TCP_INFO"
            assert end["streams"][0]["sender"]["max_snd_cwnd"] > 0
    assert set(result) == {"start", "intervals", "end"} and result["intervals"]
    assert lines[-1] == "iperf Done." and any("receiver" in line for line in lines)


def test_a_second_client_meets_access_denied_while_a_test_runs(hosts):
    client, server = hosts
    first = threading.Thread(target=run_client, args=(client, SERVER_IP),
                             kwargs={"params": p.TestParams(duration=1.5)})
    first.start()
    deadline = time.monotonic() + 5
    while len(server.stack.tcp.connections()) < 2:  # the first test's control and data
        assert time.monotonic() < deadline, "the first test never started"
        time.sleep(0.01)  # a poll, with the deadline above
    with pytest.raises(Iperf3Error, match="busy"):
        run_client(client, SERVER_IP, params=p.TestParams(duration=0.2))
    first.join(10)


def test_the_command_line_says_what_is_wrong():
    def run(*argv):
        return subprocess.run([sys.executable, "-m", "netstack", "iperf3", *argv],
                              capture_output=True, text=True, timeout=30)

    for argv in (["-t", "1"], ["-c", "192.0.2.1", "-t", "soon"], ["-c", "192.0.2.1", "-b", "x"],
                 ["-c", "192.0.2.1", "-u", "-P", "2", "--port", "memory:x", "--ip",
                  "192.0.2.2/24"]):
        done = run(*argv)
        assert done.returncode == 2, (argv, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, (argv, done.stderr)
    started = time.monotonic()
    nobody = run("-c", "192.0.2.1", "-t", "1", "--port", f"memory:{unique_name('ipf')}",
                 "--ip", "192.0.2.2/24")
    assert nobody.returncode == 1 and "unable to connect" in nobody.stderr
    assert time.monotonic() - started < 15
