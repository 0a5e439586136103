"""Lab 1's real-tool step (root): the kernel pings a stack built with your three units, and
tshark, Wireshark's dissectors written by other people from the RFCs, reads your frames.

In one namespace whose kernel is 192.0.2.1 on the stack's TAP (labs.kit.real.RealBench):

1. `ping -c 5 192.0.2.2`, then `ping -c 3 -s 1001` (an odd ICMP length): 0% loss. Every
   frame in and out went through your Ethernet and IPv4 codecs; every checksum the stack
   wrote or checked was your internet_checksum.
2. Three frames with a wrong IPv4 header checksum, written straight onto the TAP from the
   kernel's side (an AF_PACKET socket): no reply, and the stack counts 3 under
   ipv4.drop.bad_checksum.
3. tshark re-reads the capture with IP checksum validation on (ICMP's is always checked):
   the stack sent echo replies, no frame of the stack's is malformed or carries an error
   expert item (a bad checksum is one), and every IPv4/ICMP checksum status is "good".

Evidence: stack.pcap, the pings' and tshark's output, the counters, loaded.txt (which
files were the units). real/verify.py re-checks the capture offline with its own sums.
"""

from __future__ import annotations

import json
import os
import shlex
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))
if ROOT not in sys.path:
    sys.path.insert(1, ROOT)

BAD_FRAMES = 3
# tshark checks IPv4 header checksums only when asked (ICMP's always); payloads are opaque.
TSHARK_PREFS = ["-o", "ip.check_checksum:TRUE", "-d", "udp.port==1-65535,data",
                "-d", "tcp.port==1-65535,data"]
# Sends the frames given as hex arguments on the interface named first (kernel side of the TAP).
INJECT = ("import socket, sys\n"
          "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
          "s.bind((sys.argv[1], 0))\n"
          "[s.send(bytes.fromhex(h)) for h in sys.argv[2:]]\n")


def sum16(data: bytes) -> int:
    data += b"\x00" * (len(data) % 2)
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def bad_checksum_frame(stack_mac: bytes, src_ip: str, dst_ip: str, sequence: int) -> bytes:
    """An echo request whose IPv4 header checksum is one too high (ICMP's is right)."""
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4C31, sequence) + b"bad ip checksum!"
    icmp = icmp[:2] + (0xFFFF - sum16(icmp)).to_bytes(2, "big") + icmp[4:]
    src, dst = (bytes(int(x) for x in ip.split(".")) for ip in (src_ip, dst_ip))
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), sequence, 0, 64, 1, 0, src, dst)
    right = 0xFFFF - sum16(head)
    head = head[:10] + ((right + 1) & 0xFFFF).to_bytes(2, "big") + head[12:]
    return stack_mac + bytes.fromhex("020000000099") + b"\x08\x00" + head + icmp


def loaded_units() -> str:
    """Which files the stack's three units come from (the same PYTHONPATH as the stack)."""
    from netstack.units import parse_impl_argument, resolve_units

    words = shlex.split(os.environ.get("LAB_IMPL_ARGS", ""))
    impl = dict(parse_impl_argument(v) for f, v in zip(words[::2], words[1::2], strict=False)
                if f == "--impl")
    units = resolve_units(impl)
    lines = []
    for name in ("checksum", "ethernet_codec", "ipv4_codec"):
        unit = getattr(units, name)
        module = sys.modules.get(getattr(unit, "__name__", ""), unit)
        lines.append(f"{name}: {impl.get(name, 'reference')} "
                     f"({getattr(module, '__file__', '?')})")
    return "\n".join(lines) + "\n"


def tshark(pcap: str, *args: str) -> str:
    try:
        done = subprocess.run(["tshark", "-n", "-r", pcap, *TSHARK_PREFS, *args],
                              capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"tshark failed: {exc}\n"
    return done.stdout + (f"tshark: {done.stderr}" if done.returncode else "")


def main() -> int:
    from labs.kit.real import Evidence
    from netstack.netns import NamespaceError

    evidence = Evidence(lab=1)
    evidence.write_text("loaded.txt", loaded_units())
    try:
        counters = drive(evidence)
    except NamespaceError as exc:  # the stack never got ready: it crashed in a unit, say
        detail = str(exc).replace("\\n", "\n")  # the stack's output comes quoted
        evidence.check("the stack starts with your units", False, detail)
        print(detail[-3000:], file=sys.stderr)
        return evidence.save()
    return finish(evidence, counters)


def drive(evidence) -> dict[str, int]:
    """Parts 1 and 2, the stack running: the pings, the wrong checksums; its counters."""
    from labs.kit.real import RealBench

    with RealBench(evidence) as bench:
        ping = bench.run("ping", "-c", "5", "-i", "0.2", "-W", "2", bench.stack_ip, timeout=30)
        evidence.write_text("ping.txt", ping.stdout + ping.stderr)
        evidence.check("the kernel pings the stack: ping -c 5, 0% packet loss",
                       ping.returncode == 0 and " 0% packet loss" in ping.stdout,
                       ping.stdout + ping.stderr)
        odd = bench.run("ping", "-c", "3", "-i", "0.2", "-W", "2", "-s", "1001", bench.stack_ip,
                        timeout=30)
        evidence.write_text("ping-odd.txt", odd.stdout + odd.stderr)
        evidence.check("ping -c 3 -s 1001 (1009 ICMP bytes, an odd length), 0% packet loss",
                       odd.returncode == 0 and " 0% packet loss" in odd.stdout,
                       odd.stdout + odd.stderr)
        stack_mac = bytes(int(x, 16) for x in bench.mac.split(":"))
        frames = [bad_checksum_frame(stack_mac, bench.kernel_ip, bench.stack_ip, n).hex()
                  for n in range(1, BAD_FRAMES + 1)]
        sent = bench.run(sys.executable, "-c", INJECT, bench.tap, *frames, timeout=15)
        evidence.check(f"{BAD_FRAMES} frames with a wrong IPv4 checksum written onto the TAP",
                       sent.returncode == 0, sent.stderr)
        return bench.stop()


def finish(evidence, counters: dict[str, int]) -> int:
    """Part 3, the stack stopped: its counters, then tshark on the capture."""
    from labs.kit.real import STACK_MAC

    evidence.extra["counters"] = {k: v for k, v in counters.items()
                                  if k.startswith(("eth.", "ipv4.", "icmp."))}
    evidence.check(f"the stack dropped them: ipv4.drop.bad_checksum == {BAD_FRAMES}",
                   counters.get("ipv4.drop.bad_checksum") == BAD_FRAMES,
                   json.dumps(evidence.extra["counters"]))
    evidence.check("the stack answered 8 echo requests (icmp.tx.echo_reply)",
                   counters.get("icmp.tx.echo_reply", 0) >= 8,
                   json.dumps(evidence.extra["counters"]))

    mac = STACK_MAC
    pcap = evidence.path("stack.pcap")
    statuses = tshark(pcap, "-Y", f"eth.src == {mac} and ip", "-T", "fields",
                      "-e", "frame.number", "-e", "ip.checksum.status", "-e", "icmp.type",
                      "-e", "icmp.checksum.status")
    evidence.write_text("tshark-stack-frames.txt", statuses)
    rows = [line.split("\t") for line in statuses.splitlines() if line.strip()]
    replies = [r for r in rows if len(r) == 4 and r[2] == "0"]
    evidence.check(f"tshark decodes the stack's echo replies ({len(replies)} of at least 8)",
                   len(replies) >= 8, statuses[-2000:])
    evidence.check("tshark: every IPv4 and ICMP checksum the stack wrote is good",
                   bool(rows) and all(len(r) == 4 and r[1] == "1" and r[3] == "1" for r in rows),
                   statuses[-2000:])
    problems = tshark(pcap, "-Y", f'eth.src == {mac} and (_ws.malformed or '
                      '_ws.expert.severity == "Error")', "-T", "fields", "-e", "frame.number",
                      "-e", "_ws.col.Info", "-e", "_ws.expert.message")
    evidence.write_text("tshark-problems.txt", problems)
    evidence.check("tshark: no frame of the stack's is malformed or has an error item",
                   problems.strip() == "", problems[-2000:])
    return evidence.save()


if __name__ == "__main__":
    sys.exit(main())
