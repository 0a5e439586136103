"""The independent check: tshark validates every frame the stack sent.

Wireshark's dissectors are written by other people from the RFCs, so they are a second
opinion on our wire code. We turn on IP, UDP and TCP checksum validation and ask for any
frame, sent by the stack's MAC, that is malformed or carries an expert item of error severity.
"""

import shutil
import subprocess

TSHARK_PREFS = [
    "-o", "ip.check_checksum:TRUE",
    "-o", "udp.check_checksum:TRUE",
    "-o", "tcp.check_checksum:TRUE",
    # We check the layers the stack builds (Ethernet, ARP, IPv4, ICMP, UDP, TCP). Payloads are
    # opaque bytes: without this, a port-based dissector reading random test data (or asking
    # TCP to reassemble it across retransmissions) reports "errors" in bytes we never parsed.
    "-d", "tcp.port==1-65535,data",
    "-d", "udp.port==1-65535,data",
]


def tshark_available() -> bool:
    return shutil.which("tshark") is not None


def frames_from(pcap: str, src_mac: str, display_filter: str = "") -> int:
    """How many frames in `pcap` were sent by `src_mac` (and match the optional filter)."""
    flt = f"eth.src == {src_mac}" + (f" and ({display_filter})" if display_filter else "")
    out = subprocess.run(
        ["tshark", "-n", "-r", pcap, *TSHARK_PREFS, "-Y", flt, "-T", "fields", "-e", "frame.number"],
        capture_output=True, text=True, check=True,
    ).stdout
    return len(out.split())


def problems_in(pcap: str, src_mac: str) -> list[str]:
    """One line per frame from `src_mac` that tshark finds malformed or in error."""
    flt = f'eth.src == {src_mac} and (_ws.malformed or _ws.expert.severity == "Error")'
    out = subprocess.run(
        ["tshark", "-n", "-r", pcap, *TSHARK_PREFS, "-Y", flt,
         "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info", "-e", "_ws.expert.message"],
        capture_output=True, text=True, check=True,
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


def assert_capture_clean(pcap: str, src_mac: str, min_frames: int = 1) -> None:
    """Fail unless the stack sent at least `min_frames` frames and tshark finds no fault."""
    sent = frames_from(pcap, src_mac)
    assert sent >= min_frames, f"expected the stack ({src_mac}) to send >= {min_frames} frames, found {sent}"
    bad = problems_in(pcap, src_mac)
    assert not bad, "tshark found faults in frames the stack sent:\n" + "\n".join(bad)
