"""The `netstack` command: help, one-line errors with exit status 2, TOML config, pcap replay."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from netstack.services import SERVICES
from tests.netns import NetstackProcess, unique_name

REPO = Path(__file__).resolve().parents[2]


def netstack(*args: str, prefix: tuple[str, ...] = (), timeout: float = 30,
             env_path: str | None = None) -> subprocess.CompletedProcess:
    """Run `python -m netstack ARGS`; `env_path` is put first on its PYTHONPATH."""
    env = None
    if env_path is not None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env_path, str(REPO), env.get("PYTHONPATH")) if p)
    return subprocess.run([*prefix, sys.executable, "-m", "netstack", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=env)


def assert_usage_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2, exactly one line on stderr, `netstack: error: ...`, no traceback."""
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("netstack: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_lists_the_subcommands():
    result = netstack("--help")
    assert result.returncode == 0
    for command in ("run", "demo", "bench"):
        assert command in result.stdout


def test_run_help_explains_port_specs():
    result = netstack("run", "--help")
    assert result.returncode == 0
    for text in ("tap:NAME", "afpacket:IFNAME", "pcap:IN[,OUT]", "memory:NAME", "--capture"):
        assert text in result.stdout


def test_demo_is_delegated_to_its_module():
    result = netstack("demo", "--help")
    assert result.returncode == 0 and "demo" in result.stdout


OK = ("--port", "memory:x", "--ip", "192.0.2.2/24")


@pytest.mark.parametrize("args, fragment", [
    (("run", "--port", "tap:x", "--ip", "192.0.2/24"), "bad address '192.0.2/24'"),
    (("run", "--port", "tap:x", "--ip", "192.0.2.2"), "expected ADDRESS/PREFIX"),
    (("run", *OK, "--mac", "02:00:zz:00:00:01"), "bad MAC address"),
    (("run", *OK, "--mac", "01:00:5e:00:00:01"), "multicast"),
    (("run", "--port", "wifi:wlan0", "--ip", "192.0.2.2/24"), "unknown port kind 'wifi'"),
    (("run", *OK, "--service", "echo:7"), f"unknown service 'echo' (known: {', '.join(sorted(SERVICES))})"),
    (("run", *OK, "--route", "198.51.100.0/33=192.0.2.1"), "bad route"),
    (("run", *OK, "--arp", "192.0.2.1"), "expected KEY=VALUE"),
    (("run", *OK, "--mtu", "100"), "bad mtu 100"),
    (("run", *OK, "--mtu", "big"), "invalid int value"),
    (("run", *OK, "--kni", "memory:k"), "unknown kni kind"),
    (("run", "--ip", "192.0.2.2/24"), "no port given"),
    (("run", *OK, "--no-such-flag"), "unrecognized arguments"),
    (("run", *OK, "--port", "pcap:/nonexistent/in.pcap"), "cannot read pcap file"),
    (("run", *OK, "--capture", "/nonexistent/dir/out.pcap"), "cannot write capture file"),
    (("frobnicate",), "invalid choice"),
])
def test_bad_arguments_are_one_line_errors(args, fragment):
    assert_usage_error(netstack(*args), fragment)


def test_bad_toml_is_a_one_line_error(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('port = "tap:x"\nip = \n')
    assert_usage_error(netstack("run", "--config", str(config)), "not valid TOML")
    config.write_text('port = "tap:x"\nip = "192.0.2.2/24"\ncolour = "blue"\n')
    assert_usage_error(netstack("run", "--config", str(config)), "unknown setting 'colour'")
    assert_usage_error(netstack("run", "--config", str(tmp_path / "missing.toml")), "cannot read config")


def test_a_toml_file_says_what_the_flags_say(tmp_path):
    flags = ("--port", "tap:ns0", "--ip", "192.0.2.2/24", "--gateway", "192.0.2.1",
             "--mac", "02:00:00:00:00:07", "--mtu", "1400", "--kni", "tap:kni0",
             "--kni-tcp-ports", "22,80", "--kni-udp-ports", "53",
             "--route", "198.51.100.0/24=192.0.2.1", "--arp", "192.0.2.1=02:00:c0:00:02:01",
             "--capture", "run.pcap")
    config = tmp_path / "stack.toml"
    config.write_text("""
port = "tap:ns0"
ip = "192.0.2.2/24"
gateway = "192.0.2.1"
mac = "02:00:00:00:00:07"
mtu = 1400
kni = "tap:kni0"
kni-tcp-ports = [22, 80]
kni_udp_ports = [53]
routes = { "198.51.100.0/24" = "192.0.2.1" }
arp = ["192.0.2.1=02:00:c0:00:02:01"]
capture = "run.pcap"
""")
    from_flags = netstack("run", *flags, "--print-config")
    from_file = netstack("run", "--config", str(config), "--print-config")
    assert from_flags.returncode == 0 and from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == from_flags.stdout
    overridden = netstack("run", "--config", str(config), "--mtu", "1500", "--print-config")
    assert "mtu = 1500" in overridden.stdout and 'kni = "tap:kni0"' in overridden.stdout


def test_the_default_mac_is_derived_from_the_ip():
    result = netstack("run", "--port", "tap:x", "--ip", "198.51.100.7/24", "--print-config")
    assert 'mac = "02:00:c6:33:64:07"' in result.stdout


def test_pcap_replay_through_the_real_stack(tmp_path):
    """No root needed: an ARP request and a ping from a capture file get their answers."""
    scapy = pytest.importorskip("scapy.all")
    pytest.importorskip("netstack.stack")
    peer_mac, stack_mac = "02:00:c0:00:02:01", "02:00:c0:00:02:02"
    frames = [
        scapy.Ether(dst="ff:ff:ff:ff:ff:ff", src=peer_mac)
        / scapy.ARP(op=1, hwsrc=peer_mac, psrc="192.0.2.1", pdst="192.0.2.2"),
        scapy.Ether(dst=stack_mac, src=peer_mac)
        / scapy.IP(src="192.0.2.1", dst="192.0.2.2") / scapy.ICMP(id=7, seq=1) / (b"x" * 32),
    ]
    scapy.wrpcap(str(tmp_path / "in.pcap"), frames)
    result = netstack("run", "--port", f"pcap:{tmp_path / 'in.pcap'},{tmp_path / 'out.pcap'}",
                      "--ip", "192.0.2.2/24", "--capture", str(tmp_path / "all.pcap"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ready 192.0.2.2/24 on pcap:")
    sent = scapy.rdpcap(str(tmp_path / "out.pcap"))
    arp_replies = [p for p in sent if p.haslayer(scapy.ARP) and p[scapy.ARP].op == 2
                   and p[scapy.ARP].pdst == "192.0.2.1"]
    echo_replies = [p for p in sent if p.haslayer(scapy.ICMP) and p[scapy.ICMP].type == 0]
    assert len(arp_replies) == 1 and len(echo_replies) == 1
    assert echo_replies[0][scapy.ICMP].id == 7 and bytes(echo_replies[0][scapy.Raw]) == b"x" * 32
    everything = scapy.rdpcap(str(tmp_path / "all.pcap"))
    assert len(everything) == 2 + len(sent)  # both frames in, and every frame out
    assert "port.rx 2" in result.stdout


# ------------------------------------------------------------------ as root, in a namespace


@pytest.mark.root
def test_kernel_pings_the_stack_on_a_tap_and_sigterm_cleans_up(netns):
    tap = unique_name("tap")
    with NetstackProcess(netns, "--port", f"tap:{tap}", "--ip", "192.0.2.2/24") as stack:
        assert stack.ready_line == f"ready 192.0.2.2/24 on tap:{tap} mac 02:00:c0:00:02:02"
        netns.add_address(tap, "192.0.2.1/24")
        netns.link_up(tap)
        result = netns.run(["ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "192.0.2.2"], check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        counters = stack.stop()
    assert counters["icmp.rx.echo_request"] == 3
    assert counters["icmp.tx.echo_reply"] == 3
    assert not netns.has_link(tap), "the TAP device outlived the stack"


@pytest.mark.root
def test_a_missing_afpacket_interface_is_a_one_line_error(netns):
    result = netns.run([sys.executable, "-m", "netstack", "run", "--port", "afpacket:nosuch0",
                        "--ip", "192.0.2.2/24"], check=False)
    assert_usage_error(result, "afpacket:nosuch0: no interface named nosuch0")


@pytest.mark.root
def test_tap_without_permission_is_a_one_line_error(netns):
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop privileges")
    nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    result = netns.run([*nobody, sys.executable, "-m", "netstack", "run", "--port", "tap:t0",
                        "--ip", "192.0.2.2/24"], check=False)
    assert_usage_error(result, "tap:t0: permission denied", "(are you root?)")


def test_trace_prints_one_line_per_event_of_the_kinds_asked(tmp_path):
    """`--trace drop` prints each drop (here a segment with a bad checksum) to stderr;
    `--trace state` prints no drop; an unknown kind is a one-line error."""
    scapy = pytest.importorskip("scapy.all")
    pytest.importorskip("netstack.stack")
    peer_mac, stack_mac = "02:00:c0:00:02:01", "02:00:c0:00:02:02"
    bad = (scapy.Ether(dst=stack_mac, src=peer_mac) / scapy.IP(src="192.0.2.1", dst="192.0.2.2")
           / scapy.TCP(sport=40000, dport=9, flags="S", chksum=0x1234))
    scapy.wrpcap(str(tmp_path / "in.pcap"), [bad])
    pcaps = f"pcap:{tmp_path / 'in.pcap'},{tmp_path / 'out.pcap'}"
    port = ("--port", pcaps, "--ip", "192.0.2.2/24")
    result = netstack("run", *port, "--trace", "drop")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(" stack drop tcp.drop.bad_checksum"), lines
    assert 0 <= float(lines[0].split()[0]) < 30  # seconds since the start
    quiet = netstack("run", *port, "--trace", "state")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert_usage_error(netstack("run", *port, "--trace", "state,bogus"),
                       "unknown trace kind 'bogus'")
