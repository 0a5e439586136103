"""Scenario values -> LinkSpec (netstack/sim/link/spec.py): good forms, and errors that name
the field."""

from __future__ import annotations

import pytest

from netstack.errors import ConfigError
from netstack.sim.link.spec import (
    LinkSpec,
    LossSpec,
    QueueSpec,
    RateSpec,
    link_spec_from_dict,
    parse_duration,
    parse_rate,
)

W = "links.bottleneck.up"


@pytest.mark.parametrize("text, bps", [
    ("10mbps", 10e6), ("12Mbit/s", 12e6), ("1gbps", 1e9), ("500kbps", 500e3),
    ("2.5 Mbps", 2.5e6), ("100", 100.0), (1e7, 1e7), (9600, 9600.0), ("1e6bps", 1e6),
])
def test_parse_rate_reads_bits_per_second(text, bps):
    assert parse_rate(text, W) == bps


@pytest.mark.parametrize("text", ["fast", "10 mbpss", "-5mbps", 0, "0kbps", "10MBps", True,
                                  None, float("inf")])
def test_parse_rate_rejects_and_names_the_field(text):
    with pytest.raises(ConfigError, match=f"^{W}.rate: "):
        parse_rate(text, f"{W}.rate")


@pytest.mark.parametrize("text, seconds", [
    ("20ms", 0.020), ("1.5s", 1.5), ("500us", 500e-6), ("250µs", 250e-6), (0.02, 0.02),
    (0, 0.0), ("3", 3.0), ("100ns", 100e-9),
])
def test_parse_duration_reads_seconds(text, seconds):
    assert parse_duration(text, W) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["-1ms", "soon", "5 min", -0.5, False, [1]])
def test_parse_duration_rejects_and_names_the_field(text):
    with pytest.raises(ConfigError, match=f"^{W}.delay: "):
        parse_duration(text, f"{W}.delay")


def test_a_full_link_table(tmp_path):
    spec = link_spec_from_dict({
        "rate": "12mbps", "delay": "30ms", "jitter": "1ms",
        "queue": {"kind": "droptail", "bytes": 45000},
        "loss": "1%", "reorder": 0.01, "reorder_delay": "3ms", "duplicate": "0.5%",
        "corrupt": 0.001,
    }, W)
    assert spec == LinkSpec(rate=RateSpec(kind="constant", bps=12e6),
                            queue=QueueSpec(kind="droptail", bytes=45000), delay=0.030,
                            jitter=0.001, loss=LossSpec(kind="iid", p=0.01), reorder=0.01,
                            reorder_delay=0.003, duplicate=0.005, corrupt=0.001)


def test_an_empty_table_is_an_unimpaired_infinite_link():
    assert link_spec_from_dict({}, W) == LinkSpec()


def test_rate_forms(tmp_path):
    (tmp_path / "cell.trace").write_text("1\n2\n")
    spec = link_spec_from_dict({"rate": {"trace": "cell.trace", "once": True}}, W,
                               base_dir=tmp_path)
    assert spec.rate == RateSpec(kind="trace", trace=str(tmp_path / "cell.trace"), once=True)
    spec = link_spec_from_dict({"rate": {"bps": "10mbps", "on": 1.0, "off": "500ms"}}, W)
    assert spec.rate == RateSpec(kind="onoff", bps=10e6, on=1.0, off=0.5)
    assert link_spec_from_dict({"rate": "infinite"}, W).rate == RateSpec()


def test_queue_forms():
    def queue(table):
        return link_spec_from_dict({"queue": table}, W).queue
    assert queue({"kind": "drophead", "packets": 100}) == QueueSpec(kind="drophead", packets=100)
    assert queue({"kind": "codel", "bytes": 100_000, "target": "10ms"}) == QueueSpec(
        kind="codel", bytes=100_000, target=0.010, interval=0.100)
    assert queue({"kind": "pie"}) == QueueSpec(kind="pie", target=0.015, interval=0.015)
    assert queue({"kind": "infinite"}) == QueueSpec(kind="infinite")


def test_gilbert_loss():
    spec = link_spec_from_dict({"loss": {"gilbert": {"p_gb": 0.01, "p_bg": "30%"}}}, W)
    assert spec.loss == LossSpec(kind="gilbert", p_gb=0.01, p_bg=0.3, loss_good=0.0,
                                 loss_bad=1.0)


@pytest.mark.parametrize("table, field, message", [
    ({"bandwidth": "10mbps"}, "bandwidth", "unknown key"),
    ({"rate": "ten"}, "rate", "must be a rate"),
    ({"rate": {"bps": "1mbps", "on": 1}}, "rate.off", "missing"),
    ({"rate": {"bps": "1mbps", "on": 0, "off": 1}}, "rate.on", "> 0"),
    ({"rate": {"speed": 1}}, "rate", "needs 'trace'"),
    ({"rate": {"trace": "x.trace", "once": "yes"}}, "rate.once", "true or false"),
    ({"rate": {"trace": "missing.trace"}}, "rate.trace", "not found"),
    ({"queue": {"kind": "droptail", "packets": -3}}, "queue.packets",
     "must be a positive integer, got -3"),
    ({"queue": {"kind": "droptail", "packets": 0}}, "queue.packets", "positive integer"),
    ({"queue": {"kind": "droptail", "packets": 2.5}}, "queue.packets", "positive integer"),
    ({"queue": {"kind": "droptail", "bytes": -1}}, "queue.bytes", ">= 64"),
    ({"queue": {"kind": "droptail", "bytes": 40}}, "queue.bytes", "one minimum frame"),
    ({"queue": {"kind": "droptail"}}, "queue", "needs a size"),
    ({"queue": {"kind": "fifo", "packets": 5}}, "queue.kind", "must be one of"),
    ({"queue": {"packets": 5}}, "queue.kind", "must be one of"),
    ({"queue": {"kind": "droptail", "packets": 5, "target": "5ms"}}, "queue.target",
     "only a codel or pie"),
    ({"queue": {"kind": "codel", "interval": 0}}, "queue.interval", "> 0"),
    ({"queue": {"kind": "infinite", "packets": 5}}, "queue", "no packets/bytes"),
    ({"queue": {"kind": "codel", "limit": 5}}, "queue.limit", "unknown key"),
    ({"queue": 100}, "queue", "must be a table"),
    ({"delay": "-20ms"}, "delay", ">= 0"),
    ({"jitter": "lots"}, "jitter", "must be a duration"),
    ({"loss": 1.5}, "loss", "probability"),
    ({"loss": "150%"}, "loss", "probability"),
    ({"loss": {"gilbert": {"p_gb": 0.1}}}, "loss.gilbert.p_bg", "missing"),
    ({"loss": {"gilbert": {"p_gb": 0.1, "p_bg": 0}}}, "loss.gilbert.p_bg", "never ends"),
    ({"loss": {"gilbert": {"p_gb": 0.1, "p_bg": 0.5, "loss_bad": 2}}},
     "loss.gilbert.loss_bad", "probability"),
    ({"loss": {"bursty": 0.1}}, "loss.bursty", "unknown key"),
    ({"reorder": -0.1}, "reorder", "probability"),
    ({"duplicate": "x%"}, "duplicate", "probability"),
    ({"corrupt": True}, "corrupt", "probability"),
])
def test_each_bad_value_names_its_field(tmp_path, table, field, message):
    with pytest.raises(ConfigError) as info:
        link_spec_from_dict(table, W, base_dir=tmp_path)
    text = str(info.value)
    assert text.startswith(f"{W}.{field}: ") and message in text, text
    assert "\n" not in text


def test_a_malformed_trace_names_the_field_the_file_and_the_line(tmp_path):
    (tmp_path / "bad.trace").write_text("1\n2\nx\n")
    with pytest.raises(ConfigError, match=rf"^{W}.rate.trace: .*bad.trace line 3"):
        link_spec_from_dict({"rate": {"trace": "bad.trace"}}, W, base_dir=tmp_path)


def test_a_repeating_zero_length_trace_is_refused(tmp_path):
    (tmp_path / "zero.trace").write_text("0\n0\n")
    with pytest.raises(ConfigError, match=rf"^{W}.rate.trace: .*more than 0 ms"):
        link_spec_from_dict({"rate": {"trace": "zero.trace"}}, W, base_dir=tmp_path)
    link_spec_from_dict({"rate": {"trace": "zero.trace", "once": True}}, W, base_dir=tmp_path)


def test_a_link_that_is_not_a_table_is_refused():
    with pytest.raises(ConfigError, match=f"^{W}: must be a table"):
        link_spec_from_dict("10mbps", W)
