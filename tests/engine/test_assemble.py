"""open_engine: the one place a running stack is built (the CLI, Host.open and the demo use it)."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from netstack.engine import assemble
from netstack.engine.assemble import POOL_SIZE, open_engine
from netstack.engine.loop import Engine
from netstack.errors import ConfigError
from netstack.mbuf import BUFFER_SIZE
from netstack.stack import StackConfig
from tests.netns import unique_name

MAC = "02:00:c0:00:02:02"


def config(**fields) -> StackConfig:
    return StackConfig(mac=MAC, address="192.0.2.2/24", **fields)


def test_the_engine_owns_a_stack_on_the_port_the_spec_names():
    engine = open_engine(config(), f"memory:{unique_name('asm')}")
    try:
        assert type(engine) is Engine
        assert engine.stack.config.address.ip == IPv4Address("192.0.2.2")
        assert engine.port.name.startswith("memory:")
        assert len(engine.pool) == POOL_SIZE and len(engine.pool.mbufs[0].buf) == BUFFER_SIZE
        assert engine.stack.pool is engine.pool
        assert engine.port.counters is engine.stack.counters  # one set of counters per run
        assert engine.kni is None and engine.capture is None
    finally:
        engine.close()


def test_pool_size_and_capture_are_given_through(tmp_path):
    engine = open_engine(config(), f"memory:{unique_name('asm')}", pool_size=64,
                         capture=str(tmp_path / "run.pcap"))
    try:
        assert len(engine.pool) == 64
        assert engine.capture is not None
    finally:
        engine.close()
    assert (tmp_path / "run.pcap").stat().st_size > 0  # at least the pcap header


def test_the_stack_gets_its_replacement_units():
    class LabReno:  # a congestion controller written from scratch, as a student would
        cwnd = ssthresh = 0
        in_recovery = False

        def on_ack(self, bytes_acked, now): ...
        def on_fast_retransmit(self, dupacks, flight_size, now): ...
        def on_dupack(self, now): ...
        def on_partial_ack(self, bytes_acked, now): ...
        def on_recovery_end(self, flight_size, now): ...
        def on_retransmit_timeout(self, flight_size, now): ...

    engine = open_engine(config(impl={"congestion": LabReno}), f"memory:{unique_name('asm')}")
    try:
        assert engine.stack.units.congestion is LabReno
    finally:
        engine.close()


def test_host_open_takes_the_same_options_and_impl(tmp_path):
    from netstack.api import Host
    from netstack.stages.tcp.congestion import Reno

    class LabReno(Reno):
        pass

    with Host.open(f"memory:{unique_name('asm')}", "192.0.2.2/24", pool_size=128,
                   capture=str(tmp_path / "host.pcap"), impl={"congestion": LabReno}) as host:
        assert host.stack.units.congestion is LabReno
        assert len(host.engine.pool) == 128 and host.engine.capture is not None


def test_what_was_opened_is_closed_when_a_later_step_fails(monkeypatch):
    closed = []

    class FakePort:
        name = "fake"
        counters = None

        def close(self):
            closed.append(self)

    def no_capture(path):
        raise ConfigError(f"cannot write capture file {path}")

    monkeypatch.setattr(assemble, "open_port", lambda *a, **k: FakePort())
    monkeypatch.setattr(assemble, "Capture", no_capture)
    with pytest.raises(ConfigError, match="cannot write capture file"):
        open_engine(config(), "memory:x", capture="/nonexistent/run.pcap")
    assert len(closed) == 1


@pytest.mark.parametrize("spec, engine, fragment", [
    ("memory:x", "dpdk", "unknown engine 'dpdk'"),
    ("memory:x", "native", "tap: and afpacket: ports only"),
    ("memory:x", "python", "EAL arguments apply only to dpdk: ports"),
])
def test_bad_choices_are_config_errors(spec, engine, fragment):
    eal = ("--no-huge",) if "EAL" in fragment else None
    with pytest.raises(ConfigError, match=fragment):
        open_engine(config(), spec, engine=engine, eal=eal)


def test_native_with_tap_offload_is_refused(monkeypatch):
    from netstack.engine import native_loop

    monkeypatch.setattr(native_loop, "AVAILABLE", True)
    with pytest.raises(ConfigError, match="offload needs --engine python"):
        assemble.check_engine_choice("tap:x,offload", "native")


def test_a_kni_device_turns_the_stacks_kni_on(monkeypatch):
    made = []

    class FakeKni:
        def __init__(self, spec, *, mac, mtu, counters):
            made.append((spec, mac, mtu))

        def fileno(self):
            return None

        def close(self):
            pass

    monkeypatch.setattr(assemble, "Kni", FakeKni)
    engine = open_engine(config(), f"memory:{unique_name('asm')}", kni="tap:kni0")
    try:
        assert engine.stack.config.kni is True
        assert made == [("tap:kni0", bytes.fromhex("0200c0000202"), 1500)]
    finally:
        engine.close()
