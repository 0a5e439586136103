"""The control plane's tools against a stack that talks to the Linux kernel (root only).

netstack runs in a namespace (`netstack run --name ...`); the tools run from the test, as a
user would run them from another terminal. What they say is checked against what the kernel
itself says (`ss -tin`) and what actually crossed the wire.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import pytest

from netstack.engine.pcapfile import read_pcap
from tests.interop.kernel_peer import STACK_IP, KernelPeer, requires_root
from tests.netns import unique_name, wait_until

pytestmark = [requires_root, pytest.mark.root]

KERNEL_IP = "192.0.2.1"


def tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netstack", *argv], capture_output=True,
                          text=True, timeout=20)


def tool_json(*argv: str):
    done = tool(*argv, "-j")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def kernel_tcp_info(bench: KernelPeer, local_port: int) -> dict[str, int]:
    """bytes_acked and bytes_received of the kernel's connection from `local_port`, as
    `ss -tin` prints them."""
    out = bench.run("ss", "-tinH", "sport", f"= :{local_port}", check=True).stdout
    return {name: int(value) for name, value in
            re.findall(r"\b(bytes_acked|bytes_received):(\d+)", out)}


def test_the_kernel_and_netstack_agree_on_the_bytes_of_one_connection(tmp_path):
    name = unique_name("ctl")
    with KernelPeer(tmp_path, "--name", name, "--service", "tcp-echo:7") as bench:
        kernel = bench.ns.call(socket.create_connection, (STACK_IP, 7), 5)
        try:
            payload = bytes(range(256)) * 200  # 51,200 bytes, echoed back
            kernel.sendall(payload)
            echoed = b""
            while len(echoed) < len(payload):
                echoed += kernel.recv(65536)
            assert echoed == payload
            port = kernel.getsockname()[1]

            def settled():
                ours = [r for r in tool_json("ss", "-ti", "-n", name)
                        if r["peer"] == f"{KERNEL_IP}:{port}"]
                theirs = kernel_tcp_info(bench, port)
                info = ours[0]["tcp_info"] if ours else None
                if info and info["tcpi_bytes_acked"] == len(payload) and \
                        theirs.get("bytes_acked", 0) > len(payload):
                    return info, theirs
                return None

            ours, theirs = wait_until(settled, timeout=5, what="both sides' ACKs")
            # What one side had acknowledged is what the other received. Linux counts the
            # SYN in its bytes_acked (the ACK of the SYN moves snd_una by one); netstack's
            # tcpi_bytes_acked counts data only, as RFC 4898's ThruOctetsAcked does.
            assert theirs["bytes_received"] == ours["tcpi_bytes_acked"] == len(payload)
            assert theirs["bytes_acked"] - 1 == ours["tcpi_bytes_received"] == len(payload)
        finally:
            kernel.close()


def test_ip_neigh_add_changes_where_the_stack_sends(tmp_path):
    name = unique_name("ctl")
    bogus_mac = "02:00:00:00:00:77"
    with KernelPeer(tmp_path, "--name", name, "--service", "udp-echo:7") as bench:
        bench.ns.add_address(bench.tap, "192.0.2.77/24")
        kernel = bench.ns.call(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
        try:
            kernel.bind(("192.0.2.77", 0))
            kernel.settimeout(1.0)
            assert tool("ip", "neigh", "add", "192.0.2.77", "lladdr", bogus_mac,
                        "-n", name).returncode == 0
            kernel.sendto(b"first", (STACK_IP, 7))
            with pytest.raises(TimeoutError):
                kernel.recvfrom(100)  # the echo went to the MAC we gave, not the kernel's
            assert tool("ip", "neigh", "del", "192.0.2.77", "-n", name).returncode == 0
            kernel.settimeout(5.0)
            kernel.sendto(b"second", (STACK_IP, 7))
            assert kernel.recvfrom(100)[0] == b"second", "resolved again by ARP, delivered"
        finally:
            kernel.close()
        bench.stop()
    sent = [frame for _time, frame in read_pcap(bench.capture)
            if frame[6:12] == bytes.fromhex(bench.mac.replace(":", ""))]
    to_bogus = [f for f in sent if f[0:6] == bytes.fromhex(bogus_mac.replace(":", ""))]
    assert len(to_bogus) == 1 and b"first" in to_bogus[0], "exactly the first echo"
    asked = [f for f in sent if f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x01"  # requests
             and f[38:42] == bytes([192, 0, 2, 77])]
    assert asked, "after the delete the stack asked ARP for 192.0.2.77"
    assert sent.index(asked[0]) > sent.index(to_bogus[0]), "...and only after it"
