"""`netstack run --impl UNIT=MODULE:ATTR`, the `impl` key of a config file, and `netstack units`.

Only `congestion` is used as a real unit here: its interface (CongestionControl) is one every
checkout has. tests/test_units_resolve.py covers the rules with a made-up unit."""

import pytest

from netstack.units import UNITS
from tests.cli.test_cli import assert_usage_error, netstack

BASE = ("run", "--port", "memory:x", "--ip", "192.0.2.2/24")
RENO = "netstack.stages.tcp.congestion:Reno"


def test_netstack_units_lists_every_unit_with_its_interface_and_reference():
    result = netstack("units")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for unit in UNITS.values():
        first = next(i for i, line in enumerate(lines) if line.split()[:1] == [unit.name])
        assert unit.summary in lines[first]
        assert lines[first + 1].split() == ["interface", unit.interface]
        assert lines[first + 2].split() == ["reference", unit.reference]


def test_impl_is_shown_by_print_config():
    result = netstack(*BASE, "--impl", f"congestion={RENO}", "--print-config")
    assert result.returncode == 0, result.stderr
    assert f'impl = {{ congestion = "{RENO}" }}' in result.stdout.splitlines()


@pytest.mark.parametrize("impl, fragment", [
    ("arpp=netstack.stages.arp:ArpStage", "unknown unit 'arpp'"),
    ("congestion", "expected UNIT=package.module:Attribute"),
    ("congestion=no_such_lab.cc:Reno", "unit 'congestion': cannot import 'no_such_lab.cc'"),
    ("congestion=netstack.stages.tcp.congestion:Vegas",
     "unit 'congestion': module 'netstack.stages.tcp.congestion' has no 'Vegas'"),
    ("congestion=netstack.stages.arp:ArpStage",
     "unit 'congestion': netstack.stages.arp:ArpStage does not implement CongestionControl: "
     "missing cwnd"),
])
def test_a_bad_replacement_is_one_line_and_exit_2(impl, fragment):
    assert_usage_error(netstack(*BASE, "--impl", impl, "--print-config"), fragment)
    # The same check stands before a stack is opened, not only for --print-config.
    assert_usage_error(netstack(*BASE, "--impl", impl), fragment)


def test_a_module_that_raises_while_importing_is_one_line(tmp_path):
    (tmp_path / "lab_cc.py").write_text('raise ValueError("my\\nbug")\n')
    result = netstack(*BASE, "--impl", "congestion=lab_cc:Reno", "--print-config",
                      env_path=str(tmp_path))
    assert_usage_error(result, "cannot import 'lab_cc': ValueError: my bug")


@pytest.mark.parametrize("file_line", [
    f'impl = {{ congestion = "{RENO}" }}',
    f'impl = ["congestion={RENO}"]',
])
def test_the_impl_key_of_a_config_file(tmp_path, file_line):
    config = tmp_path / "stack.toml"
    config.write_text(f'port = "memory:x"\nip = "192.0.2.2/24"\n{file_line}\n')
    result = netstack("run", "--config", str(config), "--print-config")
    assert result.returncode == 0, result.stderr
    assert f'impl = {{ congestion = "{RENO}" }}' in result.stdout


def test_a_bad_entry_in_the_file_is_named_as_the_file_key(tmp_path):
    config = tmp_path / "stack.toml"
    config.write_text('port = "memory:x"\nip = "192.0.2.2/24"\nimpl = ["congestion"]\n')
    assert_usage_error(netstack("run", "--config", str(config), "--print-config"),
                       "impl 'congestion': expected UNIT=package.module:Attribute")
    result = netstack("run", "--config", str(config), "--print-config")
    assert "--impl" not in result.stderr  # the user wrote no flag


def test_a_flag_overrides_the_file_for_its_unit(tmp_path):
    config = tmp_path / "stack.toml"
    config.write_text('port = "memory:x"\nip = "192.0.2.2/24"\n'
                      'impl = { congestion = "no_such_lab.cc:Reno" }\n')
    assert_usage_error(netstack("run", "--config", str(config), "--print-config"),
                       "cannot import 'no_such_lab.cc'")
    result = netstack("run", "--config", str(config), "--impl", f"congestion={RENO}",
                      "--print-config")
    assert result.returncode == 0, result.stderr
    assert f'impl = {{ congestion = "{RENO}" }}' in result.stdout


def test_a_stack_runs_with_a_replacement(tmp_path):
    """No root: a pcap replay through a stack built with --impl answers the ping in it."""
    scapy = pytest.importorskip("scapy.all")
    (tmp_path / "lab_cc.py").write_text(
        "from netstack.stages.tcp.congestion import Reno\n\n\nclass LabReno(Reno):\n    pass\n")
    peer_mac, stack_mac = "02:00:c0:00:02:01", "02:00:c0:00:02:02"
    frames = [
        scapy.Ether(dst=stack_mac, src=peer_mac)
        / scapy.IP(src="192.0.2.1", dst="192.0.2.2") / scapy.ICMP(id=9, seq=1) / (b"y" * 16),
    ]
    scapy.wrpcap(str(tmp_path / "in.pcap"), frames)
    result = netstack("run", "--port", f"pcap:{tmp_path / 'in.pcap'},{tmp_path / 'out.pcap'}",
                      "--ip", "192.0.2.2/24", "--arp", f"192.0.2.1={peer_mac}",
                      "--impl", "congestion=lab_cc:LabReno", env_path=str(tmp_path))
    assert result.returncode == 0, result.stderr
    replies = [p for p in scapy.rdpcap(str(tmp_path / "out.pcap"))
               if p.haslayer(scapy.ICMP) and p[scapy.ICMP].type == 0]
    assert len(replies) == 1 and replies[0][scapy.ICMP].id == 9
