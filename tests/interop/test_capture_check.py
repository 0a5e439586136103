"""The tshark check itself must be able to fail, or it proves nothing."""

from pathlib import Path

import pytest

from tests.capture_check import assert_capture_clean, frames_from, problems_in, tshark_available

pytestmark = pytest.mark.skipif(not tshark_available(), reason="tshark is not installed (make setup installs it as root)")

scapy = pytest.importorskip("scapy.all")

MAC = "02:00:c0:00:02:02"


def _frames(ip_checksum=None, udp_checksum=None):
    base = scapy.Ether(src=MAC, dst="02:00:00:00:00:01") / scapy.IP(src="192.0.2.2", dst="192.0.2.1")
    if ip_checksum is not None:
        base[scapy.IP].chksum = ip_checksum
    return [base / scapy.UDP(sport=7, dport=9, chksum=udp_checksum) / b"hello"]


def test_clean_capture_passes(tmp_path):
    path = str(tmp_path / "good.pcap")
    scapy.wrpcap(path, _frames())
    assert_capture_clean(path, MAC)


def test_bad_udp_checksum_is_reported(tmp_path):
    path = str(tmp_path / "bad.pcap")
    scapy.wrpcap(path, _frames(udp_checksum=0x1234))
    assert problems_in(path, MAC), "tshark should flag a bad UDP checksum"


def test_bad_ip_checksum_is_reported(tmp_path):
    path = str(tmp_path / "bad_ip.pcap")
    scapy.wrpcap(path, _frames(ip_checksum=0x1234))
    with pytest.raises(AssertionError, match="tshark found faults"):
        assert_capture_clean(path, MAC)


def test_frames_from_other_macs_are_not_counted(tmp_path):
    path = str(tmp_path / "other.pcap")
    scapy.wrpcap(path, _frames(udp_checksum=0x1234))
    assert problems_in(path, "02:00:00:00:00:99") == []


def test_retransmitted_random_payloads_are_not_judged_by_application_dissectors(tmp_path):
    # Frames the stack sent during a 5%-loss transfer of random bytes (tests/interop/data).
    # Wireshark's Thrift heuristic claims some of those bytes, asks TCP to reassemble them,
    # and then calls our (correct) retransmissions "reassembly errors". Payloads are opaque.
    recorded = str(Path(__file__).parent / "data" / "retransmissions.pcap")
    assert frames_from(recorded, MAC) > 50
    assert problems_in(recorded, MAC) == []
    # ...while a bad TCP checksum is still caught.
    path = str(tmp_path / "broken.pcap")
    ip = scapy.Ether(src=MAC, dst="02:00:00:00:00:01") / scapy.IP(src="192.0.2.2", dst="192.0.2.1")
    scapy.wrpcap(path, [ip / scapy.TCP(sport=53007, dport=5002, flags="A", chksum=0x1234) / b"x"])
    assert len(problems_in(path, MAC)) == 1
