"""The control plane's tools against a stack that talks to the Linux kernel (root only).

netstack runs in a namespace (`netstack run --name ...`); the tools run from the test, as a
user would run them from another terminal. What they say is checked against what the kernel
itself says (`ss -tin`) and what actually crossed the wire.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from netstack.engine.pcapfile import read_pcap
from tests.interop.kernel_peer import STACK_IP, KernelPeer, ping_ok, requires_root
from tests.netns import Namespace, unique_name, wait_until

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


def test_a_live_capture_during_curl_holds_the_whole_exchange(tmp_path):
    name = unique_name("ctl")
    path = tmp_path / "live.pcap"
    with KernelPeer(tmp_path, "--name", name, "--service", "http:80") as bench:
        capture = subprocess.Popen([sys.executable, "-m", "netstack", "capture", "-n", name,
                                    "-w", str(path)], stderr=subprocess.PIPE, text=True)
        try:
            assert capture.stderr.readline().startswith(f"capturing on {name} at port")
            page = bench.run("curl", "-s", "-o", "/dev/null", "-w", "%{size_download}",
                             "--max-time", "5", f"http://{STACK_IP}/bytes/3000", check=True)
            assert page.stdout == "3000"
            # The last ACK of the close may still be on its way: wait for the stack's side.
            wait_until(lambda: not [r for r in tool_json("ss", "-t", "-n", name)
                                    if r["state"] not in ("TIME-WAIT", "LISTEN")],
                       timeout=5, what="the connection to close")
            capture.send_signal(signal.SIGINT)
            _out, err = capture.communicate(timeout=20)
        finally:
            if capture.poll() is None:
                capture.kill()
        assert capture.returncode == 0, err
        bench.stop()
    frames = [frame for _t, frame in read_pcap(str(path))]
    tcp = [f for f in frames if f[12:14] == b"\x08\x00" and f[23] == 6]
    flags = [f[14 + (f[14] & 0x0F) * 4 + 13] for f in tcp]
    syn, fin, ack = 0x02, 0x01, 0x10
    assert [fl & (syn | ack) for fl in flags[:2]] == [syn, syn | ack], "the handshake first"
    assert sum(1 for fl in flags if fl & fin) == 2, "a FIN each way"
    payload = b"".join(frames)
    assert b"GET /bytes/3000 HTTP/1.1" in payload and b"HTTP/1.1 200" in payload
    # The stack's own --capture (every frame of its run) holds each of these frames too.
    whole = {frame for _t, frame in read_pcap(bench.capture)}
    assert all(frame in whole for frame in frames)
    if shutil.which("tshark"):
        read = subprocess.run(["tshark", "-r", str(path), "-Y", "http"], capture_output=True,
                              text=True, timeout=60)
        assert read.returncode == 0 and "GET /bytes/3000" in read.stdout, read.stderr


def test_kni_modes_steer_a_real_kernels_traffic(tmp_path):
    name, kni = unique_name("ctl"), unique_name("kni")
    with Namespace("nshost") as host, KernelPeer(tmp_path, "--name", name, "--kni",
                                                 f"tap:{kni}") as peer:
        peer.run("ip", "link", "set", "dev", kni, "netns", host.name, check=True)
        host.run(["ip", "-6", "address", "add", "2001:db8::2/64", "dev", kni, "nodad"])
        host.link_up(kni)
        peer.run("ip", "-6", "address", "add", "2001:db8::1/64", "dev", peer.tap, "nodad",
                 check=True)

        def pings(target: str, *family: str) -> bool:
            result = peer.run("ping", *family, "-n", "-c", "2", "-i", "0.05", "-W", "1", target)
            return ping_ok(result, 2)

        assert tool_json("kni", "-n", name)["mode"] == "default"
        assert pings("2001:db8::2", "-6") and pings(STACK_IP), "default: IPv6 to the kernel"
        assert tool("kni", "-n", name, "all-to-stack").returncode == 0
        assert not pings("2001:db8::2", "-6"), "all-to-stack: the kernel gets nothing"
        assert pings(STACK_IP), "...and the stack still answers"
        assert tool("kni", "-n", name, "all-to-kernel").returncode == 0
        to_kernel = tool_json("kni", "-n", name)["to_kernel"]
        assert not pings(STACK_IP), "all-to-kernel: the host kernel has no 192.0.2.2"
        assert tool_json("kni", "-n", name)["to_kernel"] >= to_kernel + 2
        assert tool_json("sysctl", "-n", name, "net.ipv4.kni_mode")[0]["value"] == "all-to-kernel"
        assert tool("kni", "-n", name, "default").returncode == 0
        assert pings("2001:db8::2", "-6") and pings(STACK_IP)
        peer.stop()
