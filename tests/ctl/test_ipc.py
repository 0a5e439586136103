"""The control plane's IPC: a stack's segment, slots, rings and messages, and every way a
tool can fail, each within 2 s. Segments go to a temporary directory (NETSTACK_SHM_DIR)."""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid
from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from netstack.ctl import segment as segment_module
from netstack.ctl.client import (
    AccessDenied,
    ControlClient,
    ControlTimeout,
    NoSuchStack,
    RemoteError,
    StackStarting,
    VersionMismatch,
)
from netstack.ctl.handlers import HANDLERS
from netstack.ctl.segment import DEFAULT_LAYOUT, Layout, Segment, read_header, running_stacks
from netstack.ctl.server import ControlServer
from netstack.engine.assemble import open_engine
from netstack.native import BUILT
from netstack.stack import StackConfig

pytestmark = pytest.mark.skipif(not BUILT, reason="the control plane needs the native rings")


@pytest.fixture(autouse=True)
def shm_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(segment_module, "DIRECTORY", tmp_path)
    monkeypatch.setenv("NETSTACK_SHM_DIR", str(tmp_path))
    return tmp_path


class RunningStack:
    """A stack on a memory port, its loop on a thread, reachable as `name`."""

    def __init__(self, name: str, layout: Layout = DEFAULT_LAYOUT, ready: bool = True) -> None:
        config = StackConfig(mac=bytes.fromhex("020000000002"),
                             address=IPv4Interface("192.0.2.2/24"))
        self.engine = open_engine(config, f"memory:ctl-{uuid.uuid4().hex[:8]}")
        self.server = ControlServer(self.engine, name, "memory:test", "192.0.2.2/24", layout)
        ready_hook = self.server.mark_ready if ready else None
        self.thread = threading.Thread(target=self.engine.run, kwargs={"on_ready": ready_hook})
        self.thread.start()
        deadline = time.monotonic() + 5
        while ready and read_header(self.server.segment.memory).state != segment_module.READY:
            assert time.monotonic() < deadline, "the stack never became ready"
            time.sleep(0.005)

    def close(self) -> None:
        self.engine.stop()
        self.thread.join(10)
        self.server.close()
        self.engine.close()


@pytest.fixture
def stack():
    running = RunningStack("alpha")
    yield running
    running.close()


def within_two_seconds(call, error):
    started = time.monotonic()
    with pytest.raises(error) as failure:
        call()
    assert time.monotonic() - started < 2.5, "the failure took too long to say"
    return str(failure.value)


def test_a_tool_reads_the_counters_the_loop_took_in_one_pass(stack):
    stack.server.handlers["twice"] = lambda server, args: [
        HANDLERS["counters"](server, args), server.stack.counters.snapshot()]
    with ControlClient.connect("alpha") as client:
        answered, taken_again = client.request("twice")
        assert answered == taken_again, "nothing moved between the two: one pass, one snapshot"
        assert client.request("hello") == {"version": 1, "name": "alpha"}


def test_two_clients_in_parallel_each_get_their_own_answers(stack):
    with ControlClient.connect("alpha") as one, ControlClient.connect("alpha") as two:
        assert one.slot != two.slot
        results = {}

        def ask(client, kind, key):
            results[key] = [client.request(kind) for _ in range(20)]

        threads = [threading.Thread(target=ask, args=(one, "hello", "one")),
                   threading.Thread(target=ask, args=(two, "counters", "two"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert all(r == {"version": 1, "name": "alpha"} for r in results["one"])
        assert all("arp.tx.gratuitous" in r for r in results["two"])


def test_a_large_answer_comes_back_complete_over_many_pages():
    small = Layout(buffer_size=512)
    running = RunningStack("paged", small)
    try:
        with ControlClient.connect("paged") as client:
            rows = client.request("sysctl")
        assert len(json.dumps(rows)) > 10 * 512, "the answer needed many pages"
        assert {r["name"] for r in rows} >= {"net.ipv4.default_ttl", "net.ipv4.tcp.msl"}
        assert running.server.pages == {}, "every page was taken"
    finally:
        running.close()


def test_a_bad_value_is_refused_with_the_allowed_range(stack):
    with ControlClient.connect("alpha") as client:
        with pytest.raises(RemoteError, match=r"is not allowed \(an integer in 1\.\.255\)"):
            client.request("sysctl", {"name": "net.ipv4.default_ttl", "value": "300"})
        with pytest.raises(RemoteError, match="unknown request 'nope'"):
            client.request("nope")


def test_syncookies_is_set_through_the_control_ring_on_a_running_stack(stack):
    with ControlClient.connect("alpha") as client:
        client.request("sysctl", {"name": "net.ipv4.tcp.syncookies", "value": "2"})
        assert stack.engine.stack.tcp.config.syncookies == 2
        with pytest.raises(RemoteError, match=r"is not allowed \(an integer in 0\.\.2\)"):
            client.request("sysctl", {"name": "net.ipv4.tcp.syncookies", "value": "3"})


def test_garbage_in_the_rings_and_buffers_is_counted_and_the_stack_answers_on(stack):
    with ControlClient.connect("alpha") as client:
        seg, rng = client.segment, random.Random(7)
        sent = 60
        for _ in range(sent):  # indices that are not this slot's buffers, and junk buffers
            buffer = seg.buffer(client.free[0])
            buffer[:64] = bytes(rng.randrange(256) for _ in range(64))
            buffer.release()
            index = rng.choice([rng.randrange(2**32), client.free[0]])
            deadline = time.monotonic() + 2
            while not client.requests.enqueue(index):
                assert time.monotonic() < deadline, "the loop stopped taking requests"
                client.replies.dequeue_burst(8)  # answers to junk: an error each
                time.sleep(0.001)
        deadline = time.monotonic() + 2
        while stack.server.garbage < sent and time.monotonic() < deadline:
            client.replies.dequeue_burst(8)
            time.sleep(0.005)
        assert stack.server.garbage == sent, "every bad request counted once"
        assert stack.engine.stack.counters["ctl.drop.bad_request"] == sent
    with ControlClient.connect("alpha") as fresh:  # a new client: a clean slot
        assert fresh.request("hello")["name"] == "alpha"


CLAIM_AND_DIE = """
import os, signal, sys
from netstack.ctl.client import ControlClient
from netstack.ctl.messages import Message, REQUEST
client = ControlClient.connect(sys.argv[1])
index = client.free.pop()
Message(REQUEST, 1, "counters").write(client.segment.buffer(index))
client.requests.enqueue(index)  # and die before reading the answer
print(client.slot, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_clients_killed_mid_request_do_not_leak_their_slots(stack, shm_dir):
    env = {**os.environ, "NETSTACK_SHM_DIR": str(shm_dir)}
    slots = set()
    for _ in range(Layout().slots + 2):  # more deaths than there are slots
        done = subprocess.run([sys.executable, "-c", CLAIM_AND_DIE, "alpha"], env=env,
                              capture_output=True, text=True, timeout=20)
        assert done.returncode == -signal.SIGKILL, done.stderr
        slots.add(int(done.stdout))
    with ControlClient.connect("alpha") as client:
        assert "arp.tx.gratuitous" in client.request("counters")
    assert slots <= set(range(Layout().slots))


def test_every_failure_says_what_happened_within_two_seconds(stack, shm_dir, monkeypatch):
    message = within_two_seconds(lambda: ControlClient.connect("beta"), NoSuchStack)
    assert "no stack named 'beta' (running: alpha)" in message

    starting = RunningStack("gamma", ready=False)
    try:
        assert "is starting" in within_two_seconds(lambda: ControlClient.connect("gamma"),
                                                   StackStarting)
    finally:
        starting.close()

    stuck = Segment.create("delta", "memory:x", "192.0.2.9/24")  # nobody polls it
    stuck.set_state(segment_module.READY)
    stuck.record_progress(42, 0)
    try:
        message = within_two_seconds(lambda: ControlClient.connect("delta", timeout=1.0),
                                     ControlTimeout)
        assert "did not answer in time: its loop last ran" in message and "42 passes" in message
        struct.pack_into("=I", stuck.memory, 8, 99)  # another build's protocol version
        message = within_two_seconds(lambda: ControlClient.connect("delta"), VersionMismatch)
        assert "version 99, this tool 1" in message
    finally:
        stuck.close(remove=True)

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(segment_module.os, "open", refused)  # as root, nothing is refused
    assert "permission denied" in within_two_seconds(lambda: ControlClient.connect("alpha"),
                                                     AccessDenied)


def test_a_crashed_stack_leaves_nothing_a_tool_takes_for_a_live_one(shm_dir):
    code = ("import os, signal\nfrom netstack.ctl.segment import Segment\n"
            "Segment.create('ghost', 'memory:x', '192.0.2.7/24')\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    env = {**os.environ, "NETSTACK_SHM_DIR": str(shm_dir)}
    subprocess.run([sys.executable, "-c", code], env=env, timeout=20)
    assert (shm_dir / "netstack-ghost").exists(), "the crash left its segment"
    assert running_stacks() == [], "a dead stack is never listed"
    assert not (shm_dir / "netstack-ghost").exists(), "and its segment is cleaned up"
    within_two_seconds(lambda: ControlClient.connect("ghost"), NoSuchStack)


def test_netstack_run_is_reachable_by_name_and_leaves_nothing_behind(shm_dir):
    env = {**os.environ, "NETSTACK_SHM_DIR": str(shm_dir)}
    port = f"memory:run-{uuid.uuid4().hex[:6]}"
    stack = subprocess.Popen([sys.executable, "-m", "netstack", "run", "--port", port,
                              "--ip", "192.0.2.2/24", "--name", "epsilon"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert stack.stdout.readline().startswith("ready")
        ps = subprocess.run([sys.executable, "-m", "netstack", "ps", "-j"], env=env,
                            capture_output=True, text=True, timeout=20)
        rows = json.loads(ps.stdout)
        assert [(r["name"], r["pid"], r["port"], r["state"]) for r in rows] == [
            ("epsilon", stack.pid, port, "ready")]
        stat = subprocess.run([sys.executable, "-m", "netstack", "stat", "-aj", "-n", "epsilon"],
                              env=env, capture_output=True, text=True, timeout=20)
        assert json.loads(stat.stdout)["arp.tx.gratuitous"] == 1
        missing = subprocess.run([sys.executable, "-m", "netstack", "stat", "-n", "zeta"],
                                 env=env, capture_output=True, text=True, timeout=20)
        assert missing.returncode == 2
        assert missing.stderr.strip() == ("netstack stat: no stack named 'zeta' "
                                          "(running: epsilon)")
    finally:
        stack.send_signal(signal.SIGTERM)
        stack.wait(20)
    assert not list(shm_dir.glob("netstack-*")), "the stack removed its segment on exit"


def test_with_no_stack_running_the_tools_say_how_to_start_one(shm_dir):
    env = {**os.environ, "NETSTACK_SHM_DIR": str(shm_dir)}
    done = subprocess.run([sys.executable, "-m", "netstack", "stat"], env=env,
                          capture_output=True, text=True, timeout=20)
    assert (done.returncode, done.stderr.strip()) == (
        2, "netstack stat: no netstack stack is running (start one with netstack run)")
    ps = subprocess.run([sys.executable, "-m", "netstack", "ps"], env=env,
                        capture_output=True, text=True, timeout=20)
    assert ps.returncode == 0 and ps.stdout.splitlines() == [ps.stdout.splitlines()[0]]


def test_ip_route_and_neigh_changes_take_effect_live(shm_dir):
    from netstack.engine.ports.memory import MemoryPort
    from netstack.testing import decode, icmp_echo_frame

    running = RunningStack("eta")
    cable = running.engine.port.name.split(":", 1)[1]
    wire = MemoryPort(cable)  # the other end: we are 192.0.2.1
    try:
        with ControlClient.connect("eta") as client:
            routes = client.request("ip", {"object": "route", "action": "add",
                                           "dst": "198.51.100.0/24", "via": "192.0.2.1"})
            assert {"dst": "198.51.100.0/24", "gateway": "192.0.2.1", "dev": running.engine.port.name} in routes
            with pytest.raises(RemoteError, match="gateway 203.0.113.1 is not on 192.0.2.0/24"):
                client.request("ip", {"object": "route", "action": "add",
                                      "dst": "198.51.100.0/24", "via": "203.0.113.1"})
            neighbours = client.request("ip", {"object": "neigh", "action": "add",
                                               "dst": "192.0.2.1", "lladdr": "02:00:00:00:00:77"})
            assert neighbours == [{"dst": "192.0.2.1", "dev": running.engine.port.name,
                                   "lladdr": "02:00:00:00:00:77", "state": ["PERMANENT"]}]
        wire.take_frames()
        wire.peer.deliver(icmp_echo_frame(bytes.fromhex("020000000002"),
                                          bytes.fromhex("020000000077"), "192.0.2.1",
                                          "192.0.2.2", 9, 1, b"ping"))
        deadline = time.monotonic() + 2
        while not wire.waiting and time.monotonic() < deadline:
            time.sleep(0.005)
        reply = decode(wire.take_frames()[0])
        assert reply["eth.dst"] == bytes.fromhex("020000000077"), "no ARP: the entry we added"
        assert reply["icmp.type"] == 0
    finally:
        wire.close()
        running.close()


SCHEMAS = Path(segment_module.__file__).parent / "schemas"
TOOL_RUNS = {"ps": ["ps", "-j"], "stat": ["stat", "-aj"], "ss": ["ss", "-aimej"],
             "ip-addr": ["ip", "-j", "addr"], "ip-route": ["ip", "-j", "route"],
             "ip-neigh": ["ip", "-j", "neigh"], "sysctl": ["sysctl", "-aj"],
             "top": ["top", "-j", "-d", "0.1", "-c", "1"], "pool": ["pool", "-j"],
             "traffic": ["traffic", "-j", "-d", "0.1", "-c", "1"], "rings": ["rings", "-j"],
             "kni": ["kni", "-j"], "capture": ["capture", "-j", "--duration", "0.2", "-w",
                                               "schema.pcap"],
             "events": None}  # a stream of lines: each checked in tests/ctl/test_live.py


def test_every_tools_json_matches_its_checked_in_schema(shm_dir):
    import jsonschema

    env = {**os.environ, "NETSTACK_SHM_DIR": str(shm_dir)}
    stack = subprocess.Popen([sys.executable, "-m", "netstack", "run", "--port",
                              f"memory:schema-{uuid.uuid4().hex[:6]}", "--ip", "192.0.2.2/24",
                              "--gateway", "192.0.2.1", "--arp", "192.0.2.1=02:00:00:00:00:01",
                              "--service", "tcp-echo:7", "--service", "udp-echo:7"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert stack.stdout.readline().startswith("ready")
        assert sorted(p.stem for p in SCHEMAS.glob("*.json")) == sorted(TOOL_RUNS)
        for name, argv in TOOL_RUNS.items():
            if argv is None:
                continue
            done = subprocess.run([sys.executable, "-m", "netstack", *argv], env=env,
                                  capture_output=True, text=True, timeout=20, cwd=shm_dir)
            assert done.returncode == 0, done.stderr
            data = json.loads(done.stdout)
            assert data, f"netstack {' '.join(argv)} printed nothing to check"
            jsonschema.validate(data, json.loads((SCHEMAS / f"{name}.json").read_text()))
    finally:
        stack.send_signal(signal.SIGTERM)
        stack.wait(20)


def test_a_busy_stack_answers_in_its_next_pass_not_at_its_next_timer(monkeypatch):
    from netstack.ctl import server as server_module

    monkeypatch.setattr(server_module, "POLL_INTERVAL", 30.0)
    monkeypatch.setattr(server_module, "IDLE_POLL_INTERVAL", 30.0)
    running = RunningStack("busy")
    busy = threading.Event()

    def keep_the_loop_busy() -> None:  # a pass every millisecond, as traffic would cause
        while not busy.is_set():
            running.engine.call_soon_threadsafe(lambda stack, now: None)
            time.sleep(0.001)

    worker = threading.Thread(target=keep_the_loop_busy)
    worker.start()
    try:
        started = time.monotonic()
        with ControlClient.connect("busy") as client:
            assert client.request("hello")["name"] == "busy"
        assert time.monotonic() - started < 5, "answered by the doorbell, not the 30 s timer"
    finally:
        busy.set()
        worker.join(5)
        running.close()
