"""`netstack run --engine python|native [--busy-poll]`: choosing the I/O engine."""

import pytest

from netstack.config import build_run_options
from netstack.engine import native_pool
from netstack.errors import ConfigError
from tests.cli.test_cli import assert_usage_error, netstack

BASE = ("run", "--ip", "192.0.2.2/24")


def test_the_python_engine_is_the_default():
    options = build_run_options({"port": "tap:ns0", "ip": "192.0.2.2/24"})
    assert (options.engine, options.busy_poll) == ("python", False)


def test_engine_and_busy_poll_reach_the_options_and_the_printed_config():
    result = netstack(*BASE, "--port", "tap:ns0", "--engine", "native", "--busy-poll",
                      "--print-config")
    assert result.returncode == 0, result.stderr
    assert 'engine = "native"' in result.stdout and "busy_poll = true" in result.stdout


@pytest.mark.parametrize("args, fragment", [
    (("--port", "tap:ns0", "--engine", "dpdk"), "invalid choice: 'dpdk'"),
    (("--port", "pcap:in.pcap", "--engine", "native"), "tap: and afpacket: ports only"),
    (("--port", "memory:x", "--engine", "native"), "tap: and afpacket: ports only"),
    (("--port", "tap:ns0?loss=0.1", "--engine", "native"), "tap: and afpacket: ports only"),
])
def test_bad_engine_choices_are_one_line_errors(args, fragment):
    assert_usage_error(netstack(*BASE, *args, "--print-config"), fragment)


def test_a_native_engine_that_is_not_built_is_a_clear_error(monkeypatch):
    # Imported first: native_loop reads native_pool.AVAILABLE once, when it is imported.
    from netstack.engine import native_loop

    monkeypatch.setattr(native_pool, "AVAILABLE", False)
    monkeypatch.setattr(native_loop, "AVAILABLE", False)
    with pytest.raises(ConfigError, match="native engine is not built"):
        build_run_options({"port": "tap:ns0", "ip": "192.0.2.2/24", "engine": "native"})


def test_busy_poll_in_a_config_file_must_be_a_boolean():
    with pytest.raises(ConfigError, match="busy_poll"):
        build_run_options({"port": "tap:ns0", "ip": "192.0.2.2/24"}, {"busy_poll": "yes"})
