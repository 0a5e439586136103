"""netstack top, traffic, pool and rings on the memory link (no root).

Stacks run on threads with a ControlServer; handlers are asked either through a real
ControlClient (the tools, in this process) or on the loop thread with `engine.call`, so a
figure and the state it describes are taken in one pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Interface
from pathlib import Path
from typing import Any

import pytest

from netstack.api import Host
from netstack.api import constants as api_constants
from netstack.ctl import perf
from netstack.ctl import segment as segment_module
from netstack.ctl.client import ControlClient, RemoteError
from netstack.ctl.handlers import HANDLERS
from netstack.ctl.server import ControlServer
from netstack.ctl.tools import run_tool
from netstack.engine.assemble import open_engine
from netstack.engine.ports.memory import MemoryPort
from netstack.engine.profile import BUCKETS, ENGINE_PHASES
from netstack.mbuf import MbufPool
from netstack.native import BUILT
from netstack.stack import StackConfig
from netstack.testing import icmp_echo_frame
from tests.netns import unique_name

pytestmark = pytest.mark.skipif(not BUILT, reason="the control plane needs the native rings")

SCHEMAS = Path(segment_module.__file__).parent / "schemas"
OUR_MAC, PEER_MAC = bytes.fromhex("020000000002"), bytes.fromhex("020000000077")
TIMEOUT = 10.0


@pytest.fixture(autouse=True)
def shm_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(segment_module, "DIRECTORY", tmp_path)
    monkeypatch.setenv("NETSTACK_SHM_DIR", str(tmp_path))
    return tmp_path


def wait_for(condition: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)
    return result


def validate(data: Any, schema: str) -> None:
    import jsonschema

    jsonschema.validate(data, json.loads((SCHEMAS / f"{schema}.json").read_text()))


def serve(engine: Any, name: str) -> ControlServer:
    """A ControlServer on a running engine, made on its loop thread."""
    server = engine.call(lambda stack, now: ControlServer(engine, name, "memory", "192.0.2.2/24"))
    server.mark_ready()
    return server


def ask(server: ControlServer, kind: str, args: dict | None = None) -> Any:
    """A handler's answer, taken on the loop thread (between two packets)."""
    def run(stack, now: float) -> Any:
        server.now = now
        return HANDLERS[kind](server, args or {})

    return server.engine.call(run)


class RawStack:
    """One stack on a memory cable whose other end the test holds (`wire`, 192.0.2.1)."""

    def __init__(self, name: str, pool_size: int | None = None) -> None:
        cable = unique_name("perf")
        config = StackConfig(mac=OUR_MAC, address=IPv4Interface("192.0.2.2/24"),
                             static_arp={"192.0.2.1": PEER_MAC})
        self.engine = open_engine(config, f"memory:{cable}", pool_size=pool_size)
        self.wire = MemoryPort(cable)
        self.engine.start()
        self.server = serve(self.engine, name)

    def ping_frames(self, count: int) -> list[bytes]:
        return [icmp_echo_frame(OUR_MAC, PEER_MAC, "192.0.2.1", "192.0.2.2", 7, seq,
                                bytes(seq % 200)) for seq in range(count)]

    def deliver_at_once(self, frames: list[bytes]) -> None:
        """Every frame arrives in one control call on the loop thread: the next pass finds
        them all waiting, a burst the size of the list."""
        port = self.wire.peer
        self.engine.call(lambda stack, now: [port.deliver(frame) for frame in frames])

    def close(self) -> None:
        self.engine.call(lambda stack, now: self.server.close())
        self.engine.close()
        self.wire.close()


@pytest.fixture
def raw() -> Iterator[RawStack]:
    stack = RawStack("raw")
    yield stack
    stack.close()


class Pair:
    """Two hosts on one memory cable; the server's stack (192.0.2.2) answers tools as "perf".
    `server_link` is a link emulation on the server's end (e.g. "?delay=0.002")."""

    def __init__(self, server_link: str = "") -> None:
        cable = unique_name("perfpair")
        self.hosts: list[Host] = []
        try:
            self.hosts.append(Host.open(f"memory:{cable}", "192.0.2.1/24", pool_size=4096))
            self.hosts.append(Host.open(f"memory:{cable}{server_link}", "192.0.2.2/24",
                                        pool_size=4096))
            self.client, self.server = self.hosts
            self.ctl = serve(self.server.engine, "perf")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if len(self.hosts) == 2 and hasattr(self, "ctl"):
            self.server.engine.call(lambda stack, now: self.ctl.close())
        for host in self.hosts:
            host.close()


@pytest.fixture
def pair() -> Iterator[Pair]:
    opened = Pair()
    yield opened
    opened.close()


class BulkTransfer:
    """The client sends to the server as fast as it can until stop(); both on threads."""

    def __init__(self, pair: Pair, port: int = 5001) -> None:
        listener = pair.server.socket(api_constants.AF_INET, api_constants.SOCK_STREAM)
        listener.bind(("0.0.0.0", port))
        listener.listen(1)
        listener.settimeout(TIMEOUT)
        self.sender = pair.client.socket(api_constants.AF_INET, api_constants.SOCK_STREAM)
        self.sender.settimeout(TIMEOUT)
        self.sender.connect(("192.0.2.2", port))
        self.receiver, _ = listener.accept()
        self.receiver.settimeout(TIMEOUT)
        listener.close()
        self.received = 0
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._send, daemon=True),
                        threading.Thread(target=self._receive, daemon=True)]
        for t in self.threads:
            t.start()

    def _send(self) -> None:
        chunk = bytes(64 * 1024)
        try:
            while not self.stopping.is_set():
                self.sender.sendall(chunk)
            self.sender.close()
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.errors.append(exc)

    def _receive(self) -> None:
        try:
            while data := self.receiver.recv(65536):
                self.received += len(data)
            self.receiver.close()
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.errors.append(exc)

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(TIMEOUT)
        assert not any(t.is_alive() for t in self.threads), "the transfer did not end"
        assert not self.errors, self.errors


def tool_lines(capsys, tool: str, *argv: str) -> list[Any]:
    assert run_tool(tool, list(argv)) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


# ================================================================================ top
def test_top_shows_tcp_and_dispatch_busy_during_a_bulk_transfer(pair, capsys):
    transfer = BulkTransfer(pair)
    try:
        wait_for(lambda: transfer.received > 1_000_000, "the transfer to get going")
        lines = tool_lines(capsys, "top", "-n", "perf", "-j", "-d", "0.3", "-c", "2")
    finally:
        transfer.stop()
    assert len(lines) == 2
    for line in lines:
        validate(line, "top")
        assert sum(line["shares"].values()) == pytest.approx(100, abs=1)
        assert line["shares"]["tcp"] > 0 and line["shares"]["ipv4"] > 0
        assert line["dispatch"] > line["shares"]["tcp"] > 0
        assert line["passes_per_s"] > 0


def test_top_shows_an_idle_stack_mostly_idle(pair, capsys):
    [line] = tool_lines(capsys, "top", "-n", "perf", "-j", "-d", "0.3", "-c", "1")
    assert sum(line["shares"].values()) == pytest.approx(100, abs=1)
    assert line["shares"]["idle"] > 50, line
    assert line["shares"]["idle"] == max(line["shares"].values())


def test_top_text_output_has_a_header_and_one_line_per_interval(pair, capsys):
    assert run_tool("top", ["-n", "perf", "-d", "0.1", "-c", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["pass/s", *(h for _, h in perf.TOP_COLUMNS)]
    assert len(lines) == 4
    assert all(len(line.split()) == 1 + len(BUCKETS) for line in lines[1:])


def test_profiling_is_off_until_top_asks_and_off_again_once_it_stops_asking(pair, monkeypatch):
    monkeypatch.setattr(perf, "OFF_AFTER", 0.3)
    engine, stack = pair.server.engine, pair.server.engine.stack
    plain_flush = stack.flush

    def wrapped_anything() -> list[str]:
        found = [name for name in ENGINE_PHASES if name in engine.__dict__]
        found += [f"stack.{n}" for n in ("advance",) if n in stack.__dict__]
        found += [f"{s}.receive" for s in ("ethernet", "arp", "ipv4", "icmp", "udp", "tcp")
                  if "receive" in vars(getattr(stack, s))]
        found += [n for n in ("end_burst", "end_pass") if n in vars(stack.tcp)]
        found += ["ctl.drain"] if "drain" in vars(pair.ctl) else []
        return found

    assert engine.profile is None and wrapped_anything() == []
    first = ask(pair.ctl, "top", {"interval": 0.1})
    assert engine.profile is not None
    assert "tcp.receive" in wrapped_anything() and "_sleep" in wrapped_anything()
    assert stack.flush is not plain_flush  # the engine's bound method, wrapped too
    second = ask(pair.ctl, "top", {"interval": 0.1})
    assert second["started"] == first["started"] and second["wall"] > first["wall"]
    wait_for(lambda: engine.profile is None, "profiling to switch itself off", timeout=5)
    assert wrapped_anything() == [], "every wrapper is gone: the pass runs the plain code"
    assert stack.flush == plain_flush
    third = ask(pair.ctl, "top")
    assert third["started"] != first["started"], "a new profile, from zero"


def test_top_interval_from_a_client_is_checked(pair):
    with ControlClient.connect("perf") as client:
        with pytest.raises(RemoteError, match="interval must be a number"):
            client.request("top", {"interval": "soon"})
        with pytest.raises(RemoteError, match="outside"):
            client.request("top", {"interval": -1})


# ================================================================================ traffic
def test_traffic_bytes_are_the_bytes_the_peer_sent_and_received(raw, capsys):
    frames = raw.ping_frames(40)
    for frame in frames:
        raw.wire.peer.deliver(frame)
    replies: list[bytes] = []
    # The stack's gratuitous ARP, then one reply per echo request.
    wait_for(lambda: replies.extend(raw.wire.take_frames()) or len(replies) >= len(frames) + 1,
             "every echo reply")
    [port] = ask(raw.server, "traffic")["devices"]
    assert port["rx_packets"] == len(frames)
    assert port["rx_bytes"] == sum(len(f) for f in frames)
    assert port["tx_packets"] == len(replies) == len(frames) + 1
    assert port["tx_bytes"] == sum(len(f) for f in replies)
    assert port["drops"] == 0

    [line] = tool_lines(capsys, "traffic", "-n", "raw", "-j", "-d", "0.05", "-c", "1")
    validate(line, "traffic")
    assert line["devices"][0]["rx_bytes"] == 0, "nothing moved during the interval"


def test_traffic_simple_prints_csv_with_one_header(raw, capsys):
    assert run_tool("traffic", ["-n", "raw", "-s", "-d", "0.05", "-c", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "time," + ",".join(f"port_{f}" for f in perf.TRAFFIC_FIELDS)
    assert len(lines) == 4 and all(len(line.split(",")) == 6 for line in lines[1:])


# ================================================================================ pool
def owners_add_up(answer: dict) -> None:
    by_owner = {o["owner"]: o["mbufs"] for o in answer["owners"]}
    assert by_owner["unaccounted"] == 0, answer
    assert sum(by_owner.values()) == answer["in_use"] == answer["size"] - answer["free"]


def test_pool_owners_add_up_idle_and_in_the_middle_of_a_bulk_transfer(capsys):
    # A delay on the server's end: the link emulator holds received frames in mbufs.
    delayed = Pair(server_link="?delay=0.002")
    try:
        owners_add_up(ask(delayed.ctl, "pool"))
        transfer = BulkTransfer(delayed)
        busy = []
        try:
            wait_for(lambda: transfer.received > 500_000, "the transfer to get going")
            with ControlClient.connect("perf") as client:
                for _ in range(30):
                    # In a pass (a control call) and between dispatch and transmit (the
                    # ctl server's pass hook, where stack.outgoing is full).
                    for answer in (ask(delayed.ctl, "pool"), client.request("pool")):
                        owners_add_up(answer)
                        busy.append(answer)
        finally:
            transfer.stop()
        held = [{o["owner"]: o["mbufs"] for o in a["owners"]} for a in busy]
        assert any(h["port"] > 0 for h in held), "frames held by the delayed link"
        copies = [{c["holder"]: c["bytes"] for c in a["copies"]} for a in busy]
        assert any(c["tcp.receive_buffers"] or c["tcp.out_of_order"] for c in copies)
        validate(busy[-1], "pool")
        wait_for(lambda: ask(delayed.ctl, "pool")["in_use"] == 0, "the link to drain")
        owners_add_up(ask(delayed.ctl, "pool"))
        assert run_tool("pool", ["-n", "perf"]) == 0
        text = capsys.readouterr().out
        assert "unaccounted" in text and "bytes held as copies" in text
    finally:
        delayed.close()


def test_min_free_and_alloc_failures_move_when_a_tiny_pool_runs_dry():
    tiny = RawStack("tiny", pool_size=16)
    try:
        before = ask(tiny.server, "pool")
        assert before["alloc_failures"] == 0 and before["min_free"] > 0
        tiny.deliver_at_once(tiny.ping_frames(64))
        wait_for(lambda: tiny.wire.waiting, "some replies")
        after = wait_for(lambda: (a := ask(tiny.server, "pool"))["in_use"] == 0 and a,
                         "the pool to refill")
        assert after["min_free"] == 0
        assert after["alloc_failures"] >= after["port_no_mbuf_drops"] > 0
        owners_add_up(after)
    finally:
        tiny.close()


@pytest.mark.parametrize("pool_class", ["MbufPool", "NativeMbufPool"])
def test_every_pool_keeps_its_low_water_mark_and_failures(pool_class):
    if pool_class == "MbufPool":
        pool = MbufPool(200)
    else:
        from netstack.engine.native_pool import NativeMbufPool

        pool = NativeMbufPool(200)
    taken = [pool.alloc() for _ in range(150)]
    assert pool.alloc_failures == 0 and 50 <= pool.min_free <= 150
    for m in taken:
        pool.free(m)
    taken = [pool.alloc() for _ in range(200)]
    assert None not in taken and pool.alloc() is None
    assert (pool.min_free, pool.alloc_failures) == (0, 1)


# ================================================================================ rings
def test_rings_high_water_marks_move_under_a_burst(raw, capsys):
    by_name = {r["name"]: r for r in ask(raw.server, "rings")}
    assert by_name["engine.in_ring"]["high_water"] <= 1
    raw.deliver_at_once(raw.ping_frames(100))
    replies: list[bytes] = []
    wait_for(lambda: replies.extend(raw.wire.take_frames()) or len(replies) >= 101,
             "every echo reply")  # (and the gratuitous ARP, taken or not)
    by_name = {r["name"]: r for r in ask(raw.server, "rings")}
    burst = raw.engine.burst
    assert by_name["engine.in_ring"]["high_water"] == burst  # one burst per pass
    assert by_name["engine.out_ring"]["high_water"] >= burst
    assert by_name["stack.outgoing"]["high_water"] >= burst
    assert by_name["engine.in_ring"]["count"] == 0
    assert by_name["engine.in_ring"]["size"] == raw.engine.in_ring.capacity
    [rows] = tool_lines(capsys, "rings", "-n", "raw", "-j")
    validate(rows, "rings")
    assert run_tool("rings", ["-n", "raw"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == ["RING", "SIZE", "COUNT",
                                                               "HIGH", "DROPS"]


# ================================================================================ bad input
@pytest.mark.parametrize("argv", [
    ["top", "-d", "0"], ["top", "-c", "many"], ["top", "-c", "0"], ["traffic", "-d", "x"],
    ["traffic", "--nope"], ["pool", "extra"], ["rings", "-d", "1"],
])
def test_bad_arguments_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        run_tool(argv[0], argv[1:])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert captured.err.startswith(f"netstack {argv[0]}: error: ")


def test_with_no_stack_the_tools_say_so_in_one_line(capsys):
    for tool in perf.TOOLS:
        assert run_tool(tool, []) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"netstack {tool}: no netstack stack is running (start one with "
                       "netstack run)"]


def test_a_killed_top_leaves_profiling_off(pair, monkeypatch, shm_dir):
    monkeypatch.setattr(perf, "OFF_AFTER", 0.3)  # the handler runs in this process
    env = {**os.environ, "NETSTACK_SHM_DIR": str(shm_dir)}
    top = subprocess.Popen([sys.executable, "-m", "netstack", "top", "-n", "perf", "-j",
                            "-d", "0.1"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = json.loads(top.stdout.readline())
        assert pair.server.engine.profile is not None and line["shares"]["idle"] > 0
    finally:
        top.kill()
        top.wait(10)
        top.stdout.close()
    wait_for(lambda: pair.server.engine.profile is None, "profiling to switch off", timeout=5)
    assert "_sleep" not in vars(pair.server.engine)
