"""`netstack run --seed N` and `seed = N`: one seed for every random choice of the stack."""

import pytest

from .test_cli import assert_usage_error, netstack

RUN = ("run", "--port", "memory:seeded", "--ip", "192.0.2.2/24")


def test_the_seed_flag_and_the_toml_key_show_in_print_config(tmp_path):
    from_flag = netstack(*RUN, "--seed", "42", "--print-config")
    assert from_flag.returncode == 0, from_flag.stderr
    assert "seed = 42" in from_flag.stdout.splitlines()
    config = tmp_path / "stack.toml"
    config.write_text('port = "memory:seeded"\nip = "192.0.2.2/24"\nseed = 42\n')
    from_file = netstack("run", "--config", str(config), "--print-config")
    assert from_file.stdout == from_flag.stdout
    overridden = netstack("run", "--config", str(config), "--seed", "5", "--print-config")
    assert "seed = 5" in overridden.stdout.splitlines()
    shown = netstack(*RUN, "--print-config").stdout.splitlines()
    assert not [line for line in shown if line.startswith("seed")]  # no seed: none shown


@pytest.mark.parametrize("bad", ["x", "1.5", ""])
def test_a_seed_that_is_not_an_integer_is_a_one_line_error(bad):
    assert_usage_error(netstack(*RUN, "--seed", bad), "bad seed", "expected an integer")


@pytest.mark.parametrize("bad", ["2.5", "true", '"seven"'])
def test_a_toml_seed_that_is_not_an_integer_is_a_one_line_error(tmp_path, bad):
    config = tmp_path / "stack.toml"
    config.write_text(f'port = "memory:seeded"\nip = "192.0.2.2/24"\nseed = {bad}\n')
    assert_usage_error(netstack("run", "--config", str(config)), "bad seed")


def replay(tmp_path, name: str, *extra: str) -> bytes:
    """Replay a ping and a UDP datagram to a closed port; return what the stack sent."""
    scapy = pytest.importorskip("scapy.all")
    peer, stack = "02:00:c0:00:02:01", "02:00:c0:00:02:02"
    frames = [
        scapy.Ether(dst=stack, src=peer) / scapy.ARP(op=2, hwsrc=peer, psrc="192.0.2.1",
                                                     hwdst=stack, pdst="192.0.2.2"),
        scapy.Ether(dst=stack, src=peer) / scapy.IP(src="192.0.2.1", dst="192.0.2.2")
        / scapy.ICMP(id=7, seq=1) / (b"x" * 32),
        scapy.Ether(dst=stack, src=peer) / scapy.IP(src="192.0.2.1", dst="192.0.2.2")
        / scapy.UDP(sport=5000, dport=9999) / b"anyone?",
    ]
    for n, frame in enumerate(frames):
        frame.time = 1000.0 + n  # scapy would stamp them with the wall clock
    scapy.wrpcap(str(tmp_path / "in.pcap"), frames)
    out = tmp_path / f"{name}.pcap"
    result = netstack("run", "--port", f"pcap:{tmp_path / 'in.pcap'},{out}", "--ip",
                      "192.0.2.2/24", *extra)
    assert result.returncode == 0, result.stderr
    return out.read_bytes()


def test_a_seeded_run_sends_the_same_bytes_every_time(tmp_path):
    first = replay(tmp_path, "first", "--seed", "3")
    assert replay(tmp_path, "second", "--seed", "3") == first
    # The IP IDs of the echo reply and of the port unreachable come from the seed.
    assert replay(tmp_path, "other", "--seed", "4") != first
