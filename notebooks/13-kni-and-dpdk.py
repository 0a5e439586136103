# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 13. The exception path: what the stack leaves to the kernel (KNI)
#
# A user-space stack such as netstack (or one built on DPDK) takes the network card away
# from the operating system: every frame goes to the stack, none to the kernel. But a real
# host needs more than one stack implements: SSH on port 22, DNS, IPv6, DHCP. DPDK's answer
# is the **Kernel NIC Interface** (KNI): a virtual device through which the user-space
# stack hands the kernel the frames it does not want, and through which the kernel's answers
# go back out of the card. netstack does the same with a second TAP device that carries
# the stack's own MAC address (`netstack/engine/kni.py`), so to the kernel it looks like the
# real interface.
#
# In this notebook you will:
#
# 1. feed a stack with `kni=True` one frame at a time and watch which frames it answers and
#    which it sets aside for the kernel: ARP, ping, TCP and UDP to "kernel ports", IPv6;
# 2. see the way back: a frame the kernel writes leaves through the port untouched;
# 3. run the real thing (root): Linux pings netstack over IPv4 and over IPv6; the IPv6 ping
#    crosses the stack into a second kernel behind KNI. Without root the notebook shows a
#    recorded capture of the same run.
#
# It assumes notebooks 1-3 (frames, ARP, ICMP) and knowing that TCP starts with a SYN.
# About 15 minutes.

# %% tags=["parameters"]
seed = 1  # every random choice (ports, sequence numbers, identifiers) derives from this
kni_tcp_ports = [22]  # TCP ports left to the kernel (netstack run --kni-tcp-ports)
kni_udp_ports = [53]  # UDP ports left to the kernel (--kni-udp-ports)
stack_tcp_port = 80  # a TCP port the stack keeps (no listener: it answers with a reset)
stack_udp_port = 9  # a UDP port the stack keeps (closed: ICMP port unreachable)
record = False  # True (as root): save the live run to data/13-kni-*.pcap and data/13-kni.json
pings = 3  # live part: IPv4 pings and IPv6 pings sent
live_port = "tap"  # live part: "tap" (a TAP device) or "dpdk" (DPDK's net_tap driver, if installed)

# %% [markdown]
# ## A stack with KNI, frame by frame
#
# `StackConfig(kni=True)` tells the stack there is a kernel to hand frames to. It sets aside
# (in `stack.to_kni`, which the engine writes to the KNI device):
#
# - frames of an **ethertype it does not speak** (anything but IPv4 and ARP: IPv6 above all),
#   and multicast frames, which it never joins (`stages/ethernet.py`);
# - IPv4 datagrams of a **protocol it has no stage for** (GRE, say) instead of answering
#   "protocol unreachable" (`stages/ipv4.py`);
# - TCP segments and UDP datagrams to the **ports listed** in `kni_tcp_ports` and
#   `kni_udp_ports`, even though it has TCP and UDP: that is how SSH keeps working on a host
#   whose network belongs to a user-space stack (`_is_kni_port` in `stages/ipv4.py`).
#
# Everything else it handles itself. We drive it with the transcript harness
# (`netstack.testing.Harness`): `Receive` feeds a frame, `Expect` checks what the stack sent,
# `ExpectKni` checks what it handed the kernel, `ExpectNoKni` that it handed nothing.

# %%
import random

import matplotlib.pyplot as plt
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NS, IPv6
from scapy.layers.l2 import Ether

from netstack import viz
from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.testing import (
    ExpectCounter,
    ExpectKni,
    ExpectNoKni,
    ExpectNothing,
    Harness,
    Receive,
    any_frame,
    arp_frame,
    arp_reply,
    icmp_echo_frame,
    icmp_echo_reply,
    icmp_unreachable,
    tcp_frame,
)
from netstack.testing.tcp import decode_tcp
from netstack.wire.arp import OP_REQUEST
from netstack.wire.tcp import FLAG_RST, FLAG_SYN

rng = random.Random(seed)
STACK_MAC, PEER_MAC = "02:00:00:00:00:02", "02:00:00:00:00:01"
STACK_IP, PEER_IP = "192.0.2.2", "192.0.2.1"
stack_mac, peer_mac = bytes.fromhex(STACK_MAC.replace(":", "")), bytes.fromhex(PEER_MAC.replace(":", ""))


def make_stack(kni):
    config = StackConfig(mac=stack_mac, address=f"{STACK_IP}/24", static_arp={PEER_IP: peer_mac},
                         kni=kni, kni_tcp_ports=kni_tcp_ports, kni_udp_ports=kni_udp_ports,
                         random_seed=seed)
    return Stack(config, MbufPool(256))


def udp_to(port):
    return bytes(Ether(src=PEER_MAC, dst=STACK_MAC) / IP(src=PEER_IP, dst=STACK_IP)
                 / UDP(sport=rng.randrange(49152, 65536), dport=port) / b"hello")


def syn_to(port):
    return tcp_frame(PEER_IP, STACK_IP, rng.randrange(49152, 65536), port,
                     seq=rng.randrange(2**32), flags=FLAG_SYN, src_mac=peer_mac, dst_mac=stack_mac)


ping_id = rng.randrange(1, 65536)
frames = {
    "ARP who-has 192.0.2.2": arp_frame(OP_REQUEST, peer_mac, PEER_IP, STACK_IP),
    "ping 192.0.2.2": icmp_echo_frame(stack_mac, peer_mac, PEER_IP, STACK_IP, ping_id, 1, b"x" * 32),
    f"TCP SYN to :{kni_tcp_ports[0]}": syn_to(kni_tcp_ports[0]),
    f"TCP SYN to :{stack_tcp_port}": syn_to(stack_tcp_port),
    f"UDP to :{kni_udp_ports[0]}": udp_to(kni_udp_ports[0]),
    f"UDP to :{stack_udp_port}": udp_to(stack_udp_port),
    "IPv6 ping 2001:db8::2": bytes(Ether(src=PEER_MAC, dst=STACK_MAC)
                                   / IPv6(src="2001:db8::1", dst="2001:db8::2")
                                   / ICMPv6EchoRequest(id=ping_id, seq=1)),
    "IPv6 neighbour solicitation": bytes(Ether(src=PEER_MAC, dst="33:33:ff:00:00:02")
                                         / IPv6(src="2001:db8::1", dst="ff02::1:ff00:2")
                                         / ICMPv6ND_NS(tgt="2001:db8::2")),
}

# What should become of each frame: the stack's answer (a matcher), or "kernel".
kernel = "kernel"
expected = {
    "ARP who-has 192.0.2.2": arp_reply(sender_ip=STACK_IP),
    "ping 192.0.2.2": icmp_echo_reply(identifier=ping_id, sequence=1),
    f"TCP SYN to :{kni_tcp_ports[0]}": kernel,
    f"TCP SYN to :{stack_tcp_port}": kernel if stack_tcp_port in kni_tcp_ports else "reset",
    f"UDP to :{kni_udp_ports[0]}": kernel,
    f"UDP to :{stack_udp_port}": (kernel if stack_udp_port in kni_udp_ports
                                  else icmp_unreachable(3)),  # code 3: port unreachable
    "IPv6 ping 2001:db8::2": kernel,
    "IPv6 neighbour solicitation": kernel,
}

# %% [markdown]
# Now the transcript. For a frame the kernel should get, the steps are "receive it, the
# kernel gets exactly these bytes, the stack sends nothing"; otherwise "receive it, the
# stack answers, the kernel gets nothing". A TCP segment to a port nobody listens on gets a
# reset (RFC 9293 §3.10.7.1), which we check by decoding the segment. As we go we note
# every arrow for a ladder diagram.

# %%
h = Harness(make_stack(kni=True))
arrows = []  # (time, from, to, label)
for name, frame in frames.items():
    h.step(Receive(frame, note=name))
    arrows.append((h.now, "peer", "netstack", name))
    outcome = expected[name]
    if outcome == kernel:
        h.run([ExpectKni(frame), ExpectNothing()])
        arrows.append((h.now, "netstack", "kernel", name + " (same bytes)"))
    else:
        if outcome == "reset":
            answer = h.expect(any_frame())
            segment = decode_tcp(answer)
            assert segment is not None and segment.flags & FLAG_RST, (
                f"{name}: expected a TCP reset, got {answer!r}")
            label = "TCP RST"
        else:
            answer = h.expect(outcome)
            label = {"ARP": "ARP reply", "pin": "ping reply"}.get(name[:3], "ICMP port unreachable")
        h.step(ExpectNoKni())
        arrows.append((h.now, "netstack", "peer", label))
    h.now += 0.001  # one millisecond between frames, to keep the diagram's times apart
to_kernel = sum(1 for outcome in expected.values() if outcome == kernel)
h.step(ExpectCounter("kni.to_kernel", to_kernel))
print(h.transcript())

# %% [markdown]
# Read the transcript: ARP and ping are answered at once; the SYN to port
# 22 and the datagram to port 53 went to the kernel untouched, while their neighbours on
# ports 80 and 9 got the stack's own answers (a reset, a port unreachable). Both IPv6 frames
# went to the kernel: netstack has no IPv6 at all, and KNI is what lets a host running it
# still be reachable over IPv6. The neighbour solicitation is also a *multicast* frame
# (33:33:...), which the stack passes on without looking further.
#
# The harness already checked each step. Here are the facts, stated once more as the lesson:

# %%
stack = h.stack
kept = [name for name, outcome in expected.items() if outcome != kernel]
# The rule in words: all of IPv6, plus TCP/UDP to the listed ports; nothing else.
rule = {name for name in frames if name.startswith("IPv6")
        or (name.startswith("TCP") and int(name.split(":")[-1]) in kni_tcp_ports)
        or (name.startswith("UDP") and int(name.split(":")[-1]) in kni_udp_ports)}
assert rule == set(frames) - set(kept), f"the kernel got {set(frames) - set(kept)}, the rule says {rule}"
assert {"ARP who-has 192.0.2.2", "ping 192.0.2.2"} <= set(kept), "ARP and ping are the stack's"
assert stack.counters["kni.to_kernel"] == len(frames) - len(kept), (
    f"{stack.counters['kni.to_kernel']} frames to the kernel, not {len(frames) - len(kept)}")
assert len(stack.to_kni) == 0, "every frame for the kernel was checked by an ExpectKni step"
assert stack.counters["arp.rx.request"] == 1, "the stack answered ARP itself"
print("to the kernel:", stack.counters["kni.to_kernel"], "| kni counters:", stack.counters.matching("kni."))

# %% [markdown]
# ## The same frames without KNI
#
# With `kni=False` there is nobody to hand frames to. The IPv6 frames are dropped and
# counted (`eth.drop.unknown_ethertype`, `eth.drop.multicast`), and the "kernel ports" are
# just ports: the SYN to 22 gets a reset, the datagram to 53 a port unreachable.

# %%
h2 = Harness(make_stack(kni=False))
for name in (f"TCP SYN to :{kni_tcp_ports[0]}", f"UDP to :{kni_udp_ports[0]}"):
    h2.receive(frames[name], note=name)
    if "TCP" in name:
        segment = decode_tcp(h2.expect(any_frame()))  # the harness fails if nothing was sent
        assert segment is not None and segment.flags & FLAG_RST, f"{name}: not a reset"
    else:
        h2.expect(icmp_unreachable(3))
h2.run([Receive(frames["IPv6 ping 2001:db8::2"]), ExpectNothing(), ExpectNoKni(),
        ExpectCounter("eth.drop.unknown_ethertype", 1),
        Receive(frames["IPv6 neighbour solicitation"]), ExpectNothing(),
        ExpectCounter("eth.drop.multicast", 1), ExpectCounter("kni.to_kernel", 0)])
print(h2.transcript())

# %% [markdown]
# ## The way back: the kernel's answers skip the stack
#
# What the kernel writes to the KNI device is already a complete Ethernet frame, with the
# stack's MAC as its source (the device carries it). The engine does not give it to the
# stack at all: it puts it straight on the out ring, next to the stack's own frames
# (`Engine._receive` in `engine/loop.py`). To see that without root, we run a real `Engine`
# on the memory port with a stand-in for the KNI device: a Python object with the same
# three methods, playing a kernel that answers the IPv6 ping.

# %%
from netstack.clock import VirtualClock
from netstack.engine.loop import Engine
from netstack.engine.ports.memory import MemoryPort


class PretendKernel:
    """The KNI device's interface (to_kernel, from_kernel, fileno), with a tiny kernel inside
    that answers IPv6 echo requests."""

    def __init__(self):
        self.got, self.answers = [], []

    def fileno(self):
        return None  # nothing to poll: run_once() calls us in every pass anyway

    def to_kernel(self, frame):
        self.got.append(bytes(frame))
        packet = Ether(frame)
        if packet.haslayer(ICMPv6EchoRequest):
            req = packet[ICMPv6EchoRequest]
            self.answers.append(bytes(
                Ether(src=STACK_MAC, dst=packet.src) / IPv6(src=packet[IPv6].dst, dst=packet[IPv6].src)
                / ICMPv6EchoReply(id=req.id, seq=req.seq, data=req.data)))

    def from_kernel(self, pool, max_n):
        mbufs = []
        while self.answers and len(mbufs) < max_n:
            m = pool.alloc()
            m.set_data(self.answers.pop(0))
            m.port = 1  # KNI frames are marked, as engine/kni.py does
            mbufs.append(m)
        return mbufs

    def close(self):
        pass


cable = f"nb13-{seed}-{rng.randrange(10**6)}"
ours, wire = MemoryPort(cable), MemoryPort(cable)
stack3 = make_stack(kni=True)
pretend = PretendKernel()
engine = Engine(stack3, ours, stack3.pool, kni=pretend, clock=VirtualClock())
engine.run_once(timeout=0)
wire.take_frames()  # the stack's gratuitous ARP at start-up
ours.deliver(frames["IPv6 ping 2001:db8::2"])
engine.run_once(timeout=0)  # pass 1: the frame goes to the kernel, which answers at once
eth_rx_before = stack3.counters.matching("eth.")
engine.run_once(timeout=0)  # pass 2: the engine reads the kernel's answer and sends it
on_wire = wire.take_frames()
engine.close()
wire.close()
print("kernel got:", [Ether(f).summary() for f in pretend.got])
print("on the wire:", [Ether(f).summary() for f in on_wire])

# %%
assert pretend.got == [frames["IPv6 ping 2001:db8::2"]], "the kernel got the ping, byte for byte"
assert len(on_wire) == 1 and Ether(on_wire[0]).haslayer(ICMPv6EchoReply), "the kernel's reply left"
assert Ether(on_wire[0]).src == STACK_MAC, "the kernel's answer carries the stack's MAC"
assert stack3.counters.matching("eth.") == eth_rx_before, "the stack never parsed the reply"

# %% [markdown]
# ## The real thing (root): two kernels and a stack between them
#
# The live run builds this, with two fresh network namespaces (deleted at the end):
#
#     namespace "wire"                         namespace "host"
#     Linux 192.0.2.1, 2001:db8::1             Linux 192.0.2.2, 2001:db8::2
#         |  TAP                                   |  KNI (a TAP with the stack's MAC)
#         +------ netstack run 192.0.2.2 ----------+
#                 --kni tap:... --kni-udp-ports 53 --service udp-echo:7
#
# The Linux on the left is the outside world. Then it pings 192.0.2.2 (the stack answers),
# pings 2001:db8::2 (IPv6: the stack passes it to the kernel on the right, which answers),
# and sends one UDP datagram to port 7 (the stack's echo service answers) and one to port 53
# (a KNI port: the kernel on the right gets it, has no DNS server, and answers "port
# unreachable"). Two captures record it: netstack's own (`--capture`: what crossed the TAP)
# and `tcpdump` on the KNI device (what the kernel on the right saw).
#
# One detail matters: ARP belongs to the stack, which answers every request for 192.0.2.2
# itself. But the kernel behind KNI has the same address and MAC, and needs ARP too (to send
# its "port unreachable" to 192.0.2.1). Its requests go out through the stack; the replies
# come back to the shared MAC, that is to the stack, which learns from them *and* hands the
# kernel a copy (`netstack/stages/ethernet.py`). Without that copy the kernel could never
# resolve an IPv4 neighbour. (IPv6 needs nothing special: neighbour discovery is ICMPv6, and
# all of IPv6 goes to the kernel.)
#
# The IPv6 addresses are from 2001:db8::/32, the documentation prefix (RFC 3849), as
# 192.0.2.0/24 is for IPv4. With `live_port = "dpdk"` the stack runs on a DPDK port
# (DPDK's own TAP driver, `--port dpdk:net_tap0,iface=...`) with the very same KNI code, and
# every fact checked below holds there too.

# %%
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from netstack.engine.pcapfile import read_pcap

DATA = Path("data")
WIRE_PCAP, KERNEL_PCAP, SUMMARY = DATA / "13-kni-wire.pcap", DATA / "13-kni-kernel.pcap", DATA / "13-kni.json"
UDP_PROBE = r'''
import socket, sys
for port in map(int, sys.argv[1:]):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.connect(("192.0.2.2", port))
    s.send(b"hello %d" % port)
    try:
        print(port, "reply", s.recv(100).decode())
    except ConnectionRefusedError:
        print(port, "refused")
    except TimeoutError:
        print(port, "timeout")
'''


def kernel_capture_complete(path, replies6):
    """Has tcpdump written `replies6` ICMPv6 echo replies and an ICMP port unreachable?"""
    frames = [f for _, f in read_pcap(str(path))] if path.exists() and path.stat().st_size >= 24 else []
    echo_replies = sum(1 for f in frames if f[12:14] == b"\x86\xdd" and len(f) > 54 and f[54] == 129)
    unreachable = any(f[12:14] == b"\x08\x00" and len(f) > 34 and f[23] == 1 and f[34] == 3
                      for f in frames)
    return echo_replies >= replies6 and unreachable


def run_live(workdir):
    """The live run; returns (summary, wire pcap path, kernel pcap path)."""
    from netstack.bench.tap import Responder, netstack_command, stop_and_read_counters
    from netstack.netns import Namespace, drain_in_background, unique_name, wait_for_line

    workdir = Path(workdir)
    wire_pcap, kernel_pcap = workdir / "wire.pcap", workdir / "kernel.pcap"
    tap, kni = unique_name("nb13t"), unique_name("nb13k")
    echo_port, dns_port = 7, kni_udp_ports[0]
    with Namespace("nb13wire") as wire_ns, Namespace("nb13host") as host:
        port = f"tap:{tap}" if live_port == "tap" else f"dpdk:net_tap0,iface={tap}"
        proc = wire_ns.popen([*netstack_command(), "run", "--port", port,
                              "--ip", f"{STACK_IP}/24", "--mac", STACK_MAC, "--seed", str(seed),
                              "--kni", f"tap:{kni}", "--kni-udp-ports", str(dns_port),
                              "--service", f"udp-echo:{echo_port}", "--capture", str(wire_pcap)])
        wait_for_line(proc, "ready", 15)
        responder = Responder(wire_ns, proc, drain_in_background(proc, keep_lines=200), tap)
        # The KNI device moves into its own namespace: the kernel "behind" the stack.
        wire_ns.run(["ip", "link", "set", "dev", kni, "netns", host.name])
        host.run(["ip", "-6", "address", "add", "2001:db8::2/64", "dev", kni, "nodad"])
        host.add_address(kni, f"{STACK_IP}/24")
        peer_mac = wire_ns.run(["cat", f"/sys/class/net/{tap}/address"]).stdout.strip()
        host.link_up(kni)
        dump = host.popen(["tcpdump", "-Z", "root", "--immediate-mode", "-U", "-n", "-i", kni,
                           "-w", str(kernel_pcap)])
        wait_for_line(dump, "tcpdump: listening", 10)
        wire_ns.add_address(tap, f"{PEER_IP}/24")
        wire_ns.run(["ip", "-6", "address", "add", "2001:db8::1/64", "dev", tap, "nodad"])
        wire_ns.link_up(tap)
        ping = ["ping", "-n", "-c", str(pings), "-i", "0.05", "-W", "2"]
        ping4 = wire_ns.run([*ping, STACK_IP], check=False).stdout
        ping6 = wire_ns.run([*ping, "-6", "2001:db8::2"], check=False).stdout
        udp = wire_ns.run([sys.executable, "-c", UDP_PROBE, str(echo_port), str(dns_port)],
                          check=False).stdout
        # Stop tcpdump only once it has written what the peer already saw answered: every
        # IPv6 echo reply and the kernel's port unreachable (a SIGTERM drops unread frames).
        replies6 = int(re.search(r"(\d+) received", ping6)[1])
        deadline = time.monotonic() + 5
        while not kernel_capture_complete(kernel_pcap, replies6) and time.monotonic() < deadline:
            time.sleep(0.02)  # polling a real process's file, not waiting in hope
        dump.terminate()  # tcpdump first: the KNI device vanishes when netstack stops
        dump.wait(5)
        counters = stop_and_read_counters(responder)
    received = [int(re.search(r"(\d+) received", out)[1]) for out in (ping4, ping6)]
    summary = {"port": live_port, "pings": pings, "ping4_received": received[0], "ping6_received": received[1],
               "udp": dict(line.split(" ", 1) for line in udp.splitlines()),
               "kni_udp_port": dns_port, "echo_port": echo_port, "peer_mac": peer_mac,
               "counters": {k: v for k, v in counters.items() if k.startswith(("kni.", "port.", "eth."))}}
    return summary, wire_pcap, kernel_pcap

# %% tags=["skip-execution", "needs-root"]
# Live: needs root (network namespaces, TAP devices, tcpdump). Without root, the next cell
# uses the recording in data/13-kni-*.pcap and data/13-kni.json.
import os

if os.geteuid() != 0:
    print("not root: skipping the live run; the next cell loads the recording in data/")
else:
    workdir = tempfile.mkdtemp(prefix="nb13-")
    try:
        live = run_live(workdir)
        live_frames = (list(read_pcap(str(live[1]))), list(read_pcap(str(live[2]))))
        if record:
            DATA.mkdir(exist_ok=True)
            shutil.copy(live[1], WIRE_PCAP)
            shutil.copy(live[2], KERNEL_PCAP)
            SUMMARY.write_text(json.dumps(live[0], indent=1) + "\n")
            print(f"recorded {WIRE_PCAP}, {KERNEL_PCAP} and {SUMMARY}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

# %%
if "live" in globals():
    summary = live[0]
    wire_frames, kernel_frames = live_frames
    print("showing the live run made just now")
else:
    summary = json.loads(SUMMARY.read_text())
    wire_frames, kernel_frames = list(read_pcap(str(WIRE_PCAP))), list(read_pcap(str(KERNEL_PCAP)))
    print(f"showing the recording in {WIRE_PCAP}, {KERNEL_PCAP} and {SUMMARY} "
          "(made as root with record=True: the live run needs root)")
print(f"IPv4 pings answered {summary['ping4_received']}/{summary['pings']}, "
      f"IPv6 pings answered {summary['ping6_received']}/{summary['pings']}, UDP: {summary['udp']}")
print("counters:", summary["counters"])


def kind(frame):
    """A short name for a frame: enough to tell this run's frames apart."""
    ethertype = frame[12:14]
    if ethertype == b"\x08\x06":
        return "ARP request" if frame[21] == 1 else "ARP reply"
    if ethertype == b"\x86\xdd":
        next_header, icmp_type = frame[20], frame[54] if len(frame) > 54 else None
        names = {128: "IPv6 echo request", 129: "IPv6 echo reply", 135: "IPv6 neighbour solicitation",
                 136: "IPv6 neighbour advertisement", 143: "IPv6 MLD report", 133: "IPv6 router solicitation"}
        if next_header == 58:
            return names.get(icmp_type, f"ICMPv6 type {icmp_type}")
        return "IPv6 MLD report" if next_header == 0 else f"IPv6 next header {next_header}"
    if ethertype == b"\x08\x00":
        proto, ihl = frame[23], (frame[14] & 0xF) * 4
        l4 = 14 + ihl
        if proto == 1:
            return {8: "ping request", 0: "ping reply", 3: "ICMP unreachable"}.get(frame[l4], "ICMP")
        if proto == 17:
            sport, dport = (int.from_bytes(frame[i:i + 2], "big") for i in (l4, l4 + 2))
            return f"UDP to :{dport}" if dport < 49152 else f"UDP from :{sport}"
    return "other"


def from_stack_mac(frame):
    return frame[6:12] == stack_mac

# %% [markdown]
# Facts that hold on any run, live or recorded:

# %%
wire_kinds = [kind(f) for _, f in wire_frames]
kernel_kinds = [kind(f) for _, f in kernel_frames]
n = summary["pings"]
assert summary["ping4_received"] == n and summary["ping6_received"] == n, "every ping was answered"
assert wire_kinds.count("ping reply") == n, "the stack answered the IPv4 pings on the wire"
assert "ping request" not in kernel_kinds and "ping reply" not in kernel_kinds, (
    "no IPv4 ping reached the kernel behind KNI: the stack answered them itself")
to_kernel_bytes = {f for _, f in kernel_frames if not from_stack_mac(f)}
from_kernel_bytes = {f for _, f in kernel_frames if from_stack_mac(f)}
arp_to_kernel = [kind(f) for f in to_kernel_bytes if kind(f).startswith("ARP")]
arp_from_kernel = [kind(f) for f in from_kernel_bytes if kind(f).startswith("ARP")]
assert "ARP request" not in arp_to_kernel, "the stack answers ARP requests; the kernel never sees them"
assert arp_to_kernel.count("ARP reply") <= arp_from_kernel.count("ARP request"), (
    "an ARP reply reaches the kernel only as the answer to a request the kernel sent")
wire_bytes = {f for _, f in wire_frames}
v6_requests = [f for _, f in wire_frames if kind(f) == "IPv6 echo request"]
v6_replies = [f for _, f in kernel_frames if kind(f) == "IPv6 echo reply"]
assert len(v6_requests) == n and all(f in to_kernel_bytes for f in v6_requests), (
    "each IPv6 echo request crossed the stack into the kernel, byte for byte")
assert len(v6_replies) == n and all(f in wire_bytes for f in v6_replies), (
    "each IPv6 echo reply the kernel wrote left on the wire, byte for byte")
dns = f"UDP to :{summary['kni_udp_port']}"
echo = f"UDP to :{summary['echo_port']}"
assert dns in kernel_kinds and echo not in kernel_kinds, "only the KNI port's datagram went to the kernel"
assert summary["udp"][str(summary["echo_port"])].startswith("reply"), "the stack's echo service answered"
assert summary["udp"][str(summary["kni_udp_port"])] == "refused", (
    "the kernel behind KNI answered port 53 with a port unreachable")
assert summary["counters"]["kni.to_kernel"] >= len(v6_requests) + 1, summary["counters"]
print(f"{len(to_kernel_bytes)} distinct frames went to the kernel, {len(from_kernel_bytes)} came back from it")

# %% [markdown]
# ## One picture: three endpoints
#
# Merging the two captures by time gives the whole story on one ladder: the Linux on the
# wire, netstack, and the Linux behind KNI. IPv4 stays between the first two; IPv6 and the
# datagram to port 53 go all the way through. (We leave out the multicast listener reports
# both kernels send on their own: they go to the kernel too, but they are noise here.)

# %%
events = []
for t, f in wire_frames:
    if from_stack_mac(f):
        events.append((t, 1, "netstack", "Linux (wire)", kind(f)))
    else:
        events.append((t, 0, "Linux (wire)", "netstack", kind(f)))
for t, f in kernel_frames:
    if from_stack_mac(f):
        events.append((t, 0, "Linux (KNI)", "netstack", kind(f)))
    else:
        events.append((t, 1, "netstack", "Linux (KNI)", kind(f)))
events = [e for e in sorted(events) if e[4] not in ("IPv6 MLD report", "IPv6 router solicitation")]
start = events[0][0]
messages = [viz.Message(t - start, a, b, label) for t, _, a, b, label in events]
fig, ax = plt.subplots(figsize=(10, 0.42 * len(messages) + 1.2))
viz.ladder(messages, endpoints=["Linux (wire)", "netstack", "Linux (KNI)"], ax=ax, by="order",
           title="netstack answers IPv4 itself; IPv6 and UDP :53 go through KNI")
viz.save_figure(fig, "13-kni-ladder")

# %% [markdown]
# ## And the harness run as a ladder
#
# The same three endpoints from the transcript at the top, with no root at all:

# %%
fig, ax = plt.subplots(figsize=(10, 0.42 * len(arrows) + 1.2))
viz.ladder([viz.Message(t, a, b, label) for t, a, b, label in arrows],
           endpoints=["peer", "netstack", "kernel"], ax=ax, by="order",
           title="which frames the stack keeps, and which it hands the kernel")
viz.save_figure(fig, "13-kni-harness")
assert sum(1 for _, _, b, _ in arrows if b == "kernel") == to_kernel, "one KNI arrow per kernel frame"

# %% [markdown]
# ## What to take away
#
# - KNI splits one interface between two stacks: netstack answers what it implements
#   (ARP, IPv4, ICMP, its own TCP and UDP ports), the kernel gets the rest, byte for byte.
# - The split is decided per frame, in order: Ethernet type and multicast
#   (`stages/ethernet.py`), then IPv4 protocol and the port lists (`stages/ipv4.py`).
# - The kernel's answers do not go through the stack: the engine puts them on the out ring.
# - Since ARP is the stack's, a kernel behind KNI needs help to speak IPv4 (a static
#   neighbour entry here); IPv6 works as is.
# - With DPDK (`--port dpdk:...`) this is the same code: DPDK's own rte_kni is gone from
#   recent DPDK releases, and netstack keeps its TAP-based KNI on every port (README).
#
# Try: add 80 to `kni_tcp_ports` and see the SYN to port 80 change sides; in the live run,
# remove the `ip neigh replace` line and watch the datagram to port 53 time out.
