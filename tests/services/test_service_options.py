"""`netstack run --service NAME:PORT`: what is accepted, and the one-line errors for the rest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netstack.config import KNOWN_SERVICES, build_run_options
from netstack.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
OK = {"port": "memory:x", "ip": "192.0.2.2/24"}


def options(*services: str):
    return build_run_options({**OK, "services": list(services)})


def test_known_services_come_from_the_registry():
    assert KNOWN_SERVICES == {"udp-echo": 7, "udp-discard": 9, "daytime": 13, "tcp-echo": 7,
                              "tcp-discard": 9, "tcp-chargen": 19, "http": 80,
                              "tcp-hold": 7, "iperf3": 5201}


def test_name_and_port_or_the_default_port():
    assert options("udp-echo:7007", "daytime").services == (("udp-echo", 7007), ("daytime", 13))


@pytest.mark.parametrize("spec, fragment", [
    ("echo:7", "unknown service 'echo' (known: daytime, http, iperf3, tcp-chargen, tcp-discard, tcp-echo, tcp-hold, udp-discard, udp-echo)"),
    ("udp-echo:0", "bad service udp-echo port 0"),
    ("udp-echo:65536", "bad service udp-echo port 65536"),
    ("udp-echo:seven", "bad service udp-echo port 'seven'"),
    ("udp-echo:", "bad service udp-echo port ''"),
])
def test_bad_service_specs_are_config_errors(spec, fragment):
    with pytest.raises(ConfigError) as caught:
        options(spec)
    assert fragment in str(caught.value)


def test_two_services_on_one_port_are_refused():
    with pytest.raises(ConfigError, match="port 7 is given to more than one service"):
        options("udp-echo:7", "daytime:7")


def test_services_in_a_toml_file(tmp_path):
    config = tmp_path / "stack.toml"
    config.write_text('port = "memory:x"\nip = "192.0.2.2/24"\nservices = ["udp-echo:7", "daytime:13"]\n')
    result = netstack("run", "--config", str(config), "--print-config")
    assert result.returncode == 0, result.stderr
    assert 'services = ["udp-echo:7", "daytime:13"]' in result.stdout


def netstack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netstack", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("spec, fragment", [
    ("nope:1", "unknown service 'nope' (known: daytime, http, iperf3, tcp-chargen, tcp-discard, tcp-echo, tcp-hold, udp-discard, udp-echo)"),
    ("udp-echo:99999", "expected a port from 1 to 65535"),
])
def test_the_cli_reports_a_bad_service_in_one_line_with_status_2(spec, fragment):
    result = netstack("run", "--port", "memory:x", "--ip", "192.0.2.2/24", "--service", spec)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("netstack: error: ")
    assert fragment in lines[0] and "Traceback" not in result.stderr
