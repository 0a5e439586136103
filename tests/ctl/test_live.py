"""netstack capture, events and kni on the memory link (no root): streams from a running stack."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from netstack.api import constants as api_constants
from netstack.ctl import segment as segment_module
from netstack.ctl import streams as streams_module
from netstack.engine.pcapfile import LINKTYPE_RAW, read_pcap
from netstack.native import BUILT
from netstack.wire import ipv4 as wire_ipv4
from tests.ctl.test_perf import Pair, RawStack, ask, wait_for

pytestmark = pytest.mark.skipif(not BUILT, reason="the control plane needs the native rings")
SCHEMAS = Path(segment_module.__file__).parent / "schemas"


@pytest.fixture(autouse=True)
def shm_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(segment_module, "DIRECTORY", tmp_path)
    monkeypatch.setenv("NETSTACK_SHM_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def raw():
    stack = RawStack("raw")
    yield stack
    stack.close()


@pytest.fixture
def pair():
    opened = Pair()
    yield opened
    opened.close()


def tool(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "netstack", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def stream_opened(server) -> bool:
    return bool(server.streams.streams)


def exchange_pings(raw: RawStack, count: int, first: int = 0) -> tuple[list[bytes], list[bytes]]:
    """`count` pings from the wire; the requests sent and the replies that came back."""
    requests = raw.ping_frames(first + count)[first:]
    replies: list[bytes] = []
    for frame in requests:
        raw.wire.peer.deliver(frame)
    wait_for(lambda: replies.extend(f for f in raw.wire.take_frames() if f[12:14] == b"\x08\x00")
             or len(replies) >= count, "the replies")
    return requests, replies


def test_a_capture_at_the_port_holds_exactly_the_frames_on_the_wire(raw, tmp_path):
    path = tmp_path / "port.pcap"
    capture = tool("capture", "-n", "raw", "-c", "6", "-w", str(path))
    wait_for(lambda: stream_opened(raw.server), "the capture to open its stream")
    requests, replies = exchange_pings(raw, 3)
    _out, err = capture.communicate(timeout=20)
    assert capture.returncode == 0, err
    assert "6 packets captured" in err
    frames = [frame for _t, frame in read_pcap(str(path))]
    assert sorted(frames) == sorted(requests + replies), "what the wire carried, both ways"
    if shutil.which("tshark"):
        read = subprocess.run(["tshark", "-r", str(path)], capture_output=True, text=True,
                              timeout=60)
        assert read.returncode == 0 and len(read.stdout.splitlines()) == 6, read.stderr
        assert read.stdout.count("Echo (ping) request") == 3
    wait_for(lambda: not stream_opened(raw.server), "the stream closed")
    assert type(raw.engine.capture).__name__ != "Tee", "the tap is gone with the stream"


def test_a_capture_at_ipv4_holds_the_ip_packets_without_ethernet(raw, tmp_path):
    path = tmp_path / "ipv4.pcap"
    capture = tool("capture", "-n", "raw", "--at", "ipv4", "-c", "4", "-w", str(path))
    wait_for(lambda: stream_opened(raw.server), "the capture to open its stream")
    requests, replies = exchange_pings(raw, 2, first=40)  # 40+ byte payloads: no padding
    assert capture.wait(20) == 0
    packets = [packet for _t, packet in read_pcap(str(path), linktype=LINKTYPE_RAW)]
    assert sorted(packets) == sorted(frame[14:] for frame in requests + replies)


def test_a_capture_at_tcp_holds_every_segment_each_way(pair):
    opened = ask(pair.ctl, "capture", {"action": "open", "at": "tcp"})
    before = pair.server.counters.snapshot()
    listener = pair.server.socket(api_constants.AF_INET, api_constants.SOCK_STREAM)
    listener.bind(("0.0.0.0", 7070))
    listener.listen(1)
    client = pair.client.socket(api_constants.AF_INET, api_constants.SOCK_STREAM)
    client.connect(("192.0.2.2", 7070))
    accepted, _ = listener.accept()
    client.sendall(b"hello tcp point")
    assert accepted.recv(100) == b"hello tcp point"
    client.close()
    accepted.close()
    listener.close()
    after = pair.server.counters.snapshot()
    wanted = sum(after.get(k, 0) - before.get(k, 0) for k in ("tcp.rx.segments",
                                                               "tcp.tx.segments"))
    import base64

    taken: list[bytes] = []
    wait_for(lambda: taken.extend(base64.b64decode(p) for _t, p in ask(
        pair.ctl, "capture", {"action": "read", "stream": opened["stream"]})["items"])
        or len(taken) >= wanted, "every segment")
    ask(pair.ctl, "capture", {"action": "close", "stream": opened["stream"]})
    headers = [wire_ipv4.parse(memoryview(p))[0] for p in taken]
    assert all(h.protocol == wire_ipv4.PROTO_TCP for h in headers)
    directions = {(str(h.src), str(h.dst)) for h in headers}
    assert directions == {("192.0.2.1", "192.0.2.2"), ("192.0.2.2", "192.0.2.1")}
    assert any(b"hello tcp point" in p for p in taken)


def test_ctrl_c_leaves_a_complete_file_and_a_killed_capture_leaves_no_tap(raw, tmp_path):
    path = tmp_path / "interrupted.pcap"
    capture = tool("capture", "-n", "raw", "-w", str(path))
    wait_for(lambda: stream_opened(raw.server), "the capture to open its stream")
    exchange_pings(raw, 2)
    stream = next(iter(raw.server.streams.streams.values()))
    wait_for(lambda: stream.kept == 4 and not stream.frames, "the tool to read all four")
    capture.send_signal(signal.SIGINT)
    _out, err = capture.communicate(timeout=20)
    assert capture.returncode == 0 and "4 packets captured" in err, err
    assert len(list(read_pcap(str(path)))) == 4

    killed = tool("capture", "-n", "raw", "-w", str(tmp_path / "killed.pcap"))
    wait_for(lambda: stream_opened(raw.server), "the second capture's stream")
    assert type(raw.engine.capture).__name__ == "Tee"
    killed.kill()
    killed.wait(10)
    wait_for(lambda: not stream_opened(raw.server), "the stack to close the orphan stream",
             timeout=streams_module.IDLE_CLOSE + 5)
    assert raw.engine.capture is None, "the stack is back to zero cost"


def test_events_stream_a_connections_state_changes_in_order_and_filter_by_conn(pair):
    everything = ask(pair.ctl, "events", {"action": "open", "kinds": "state"})["stream"]
    listener = pair.server.socket(api_constants.AF_INET, api_constants.SOCK_STREAM)
    listener.bind(("0.0.0.0", 7071))
    listener.listen(2)
    first = pair.client.socket(api_constants.AF_INET, api_constants.SOCK_STREAM)
    port = 45000
    first.bind(("0.0.0.0", port))
    one = ask(pair.ctl, "events", {"action": "open", "kinds": "state", "conn": f":{port}"})
    first.connect(("192.0.2.2", 7071))
    second = pair.client.socket(api_constants.AF_INET, api_constants.SOCK_STREAM)
    second.connect(("192.0.2.2", 7071))
    for _ in range(2):
        listener.accept()[0].close()
    first.close()
    second.close()
    listener.close()
    seen: list[dict] = []
    wait_for(lambda: seen.extend(ask(pair.ctl, "events", {"action": "read",
                                                            "stream": one["stream"]})["items"])
             or any(e["new"] == "TIME-WAIT" for e in seen), "the first connection to close")
    assert all(f":{port}" in e["conn"] for e in seen), "only the chosen connection"
    changes = [(e["old"], e["new"]) for e in seen]
    assert changes[0] == ("CLOSED", "SYN-RECEIVED") and changes[-1][1] == "TIME-WAIT"
    assert ("SYN-RECEIVED", "ESTABLISHED") in changes
    for pos in range(1, len(changes)):
        assert changes[pos][0] == changes[pos - 1][1], "each change starts where the last ended"
    all_seen = ask(pair.ctl, "events", {"action": "read", "stream": everything})["items"]
    assert {e["conn"] for e in all_seen} > {seen[0]["conn"]}, "the unfiltered stream saw both"


def test_events_json_lines_match_the_schema(pair):
    import jsonschema

    schema = json.loads((SCHEMAS / "events.json").read_text())
    events = tool("events", "-n", "perf", "-j", "--kind", "state", "-c", "3")
    wait_for(lambda: stream_opened(pair.ctl), "the events stream")
    listener = pair.server.socket(api_constants.AF_INET, api_constants.SOCK_STREAM)
    listener.bind(("0.0.0.0", 7072))
    listener.listen(1)
    client = pair.client.socket(api_constants.AF_INET, api_constants.SOCK_STREAM)
    client.connect(("192.0.2.2", 7072))
    listener.accept()[0].close()
    client.close()
    listener.close()
    out, err = events.communicate(timeout=20)
    assert events.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    for line in lines:
        jsonschema.validate(json.loads(line), schema)


def test_a_reader_slower_than_the_stack_is_told_what_it_lost(pair, monkeypatch):
    monkeypatch.setattr(streams_module, "MAX_BUFFERED_EVENTS", 10)
    stream = ask(pair.ctl, "events", {"action": "open", "kinds": "segment"})["stream"]
    emitted: list = []
    unsubscribe = pair.server.engine.call(lambda stack, now: stack.trace.subscribe(
        emitted.append, {"segment_in", "segment_out"}))
    listener = pair.server.socket(api_constants.AF_INET, api_constants.SOCK_STREAM)
    listener.bind(("0.0.0.0", 7073))
    listener.listen(1)
    client = pair.client.socket(api_constants.AF_INET, api_constants.SOCK_STREAM)
    client.connect(("192.0.2.2", 7073))
    accepted, _ = listener.accept()
    client.sendall(b"x" * 200_000)
    got = 0
    while got < 200_000:
        got += len(accepted.recv(65536))
    for sock in (client, accepted, listener):
        sock.close()
    page, total = pair.server.engine.call(lambda stack, now: (
        ask(pair.ctl, "events", {"action": "read", "stream": stream}), len(emitted)))
    pair.server.engine.call(lambda stack, now: unsubscribe())
    assert len(page["items"]) == 10, "no more than the bound is kept"
    assert page["dropped"] == total - 10 > 0, "every other event is counted as dropped"


def test_kni_without_a_device_says_so_and_bad_arguments_are_one_line(raw, tmp_path):
    shown = subprocess.run([sys.executable, "-m", "netstack", "kni", "-n", "raw"],
                           capture_output=True, text=True, timeout=20)
    assert shown.returncode == 0 and shown.stdout.strip() == "default (no KNI device)"
    refused = subprocess.run([sys.executable, "-m", "netstack", "kni", "-n", "raw",
                              "all-to-stack"], capture_output=True, text=True, timeout=20)
    assert refused.returncode == 2 and "no KNI device" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    for argv in (["capture", "-n", "raw"], ["capture", "-n", "raw", "-w", "x", "--at", "eth"],
                 ["events", "-n", "raw", "--kind", "everything"], ["kni", "-n", "raw", "off"],
                 ["capture", "-n", "raw", "-w", "x", "-c", "0"]):
        done = subprocess.run([sys.executable, "-m", "netstack", *argv], capture_output=True,
                              text=True, timeout=20, cwd=tmp_path)
        assert done.returncode == 2, (argv, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, (argv, done.stderr)
    wait_for(lambda: not stream_opened(raw.server), "no stream left open", timeout=5)
