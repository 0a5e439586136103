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
# # 1. A frame's journey
#
# A ping is the smallest conversation an IP host can have: one ICMP *echo request* goes in,
# one *echo reply* comes out. In this notebook we build that request by hand, byte by byte,
# read it back field by field, and then hand it to a running netstack stack and follow it
# through the machine: the port, the receive ring, the dispatch loop, the protocol stages
# (Ethernet, IPv4, ICMP), the transmit ring, and back out of the port.
#
# At every step we look at netstack's **counters**: each stage counts what it did, so the
# counters are a trail of breadcrumbs that shows where a frame went (and where it died, when
# it dies).
#
# It assumes only some Python. About 15 minutes to read.

# %% tags=["parameters"]
seed = 1                      # the stack's random seed (nothing below depends on luck)
identifier = 0x1234           # ICMP echo identifier (a ping program picks one per run)
sequence = 1                  # ICMP echo sequence number
payload = b"netstack says hi!" * 2   # the echo data, any bytes (at most ~1400)
ttl = 64                      # the request's time to live
stack_ip, peer_ip = "192.0.2.1", "192.0.2.2"            # documentation addresses (RFC 5737)
stack_mac, peer_mac = "02:00:00:00:00:01", "02:00:00:00:00:02"  # locally administered

# %%
from ipaddress import IPv4Address

import matplotlib.pyplot as plt

from netstack import viz
from netstack.checksum import internet_checksum
from netstack.clock import VirtualClock
from netstack.engine.loop import Engine
from netstack.engine.ports import open_port
from netstack.engine.ports.memory import MemoryPort
from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.testing.frames import describe_frame
from netstack.testing.lockstep import Lockstep
from netstack.wire import ethernet, icmp, ipv4
from netstack.wire.ethernet import format_mac, parse_mac

STACK_MAC, PEER_MAC = parse_mac(stack_mac), parse_mac(peer_mac)

# %% [markdown]
# ## 1. Building the request, from the inside out
#
# A frame is a set of nested envelopes. We write the innermost one first:
#
# * the **ICMP message** (RFC 792): type 8 (*echo request*), code 0, a checksum, the
#   identifier and sequence number, then our data;
# * the **IPv4 datagram** (RFC 791): a 20-byte header (who from, who to, which protocol
#   is inside, a time to live, a header checksum), then the ICMP message;
# * the **Ethernet frame**: destination MAC, source MAC, the *ethertype* 0x0800 ("IPv4
#   inside"), then the datagram.
#
# `netstack.wire` has one small codec per header: `build` writes one, `parse` reads it back.

# %%
message = icmp.build(icmp.IcmpHeader.echo_request(identifier, sequence), payload)
header = ipv4.IPv4Header(IPv4Address(peer_ip), IPv4Address(stack_ip), ipv4.PROTO_ICMP, ttl=ttl)
datagram = ipv4.build(header, message)
request = ethernet.build(ethernet.EthernetHeader(STACK_MAC, PEER_MAC, ethernet.ETHERTYPE_IPV4),
                         datagram)
print(f"ICMP message {len(message)} B, IPv4 datagram {len(datagram)} B, frame {len(request)} B")
print(describe_frame(request))

# %% [markdown]
# Each envelope adds a fixed-size header: 8 bytes for ICMP, 20 for IPv4 (no options), 14 for
# Ethernet. So the offsets of each layer inside the frame are fixed too: IPv4 starts at
# byte 14, ICMP at byte 34, our data at byte 42.

# %%
ETH_LEN, IP_LEN, ICMP_LEN = ethernet.HEADER_LEN, ipv4.MIN_HEADER_LEN, icmp.HEADER_LEN
assert (ETH_LEN, IP_LEN, ICMP_LEN) == (14, 20, 8), "the three header sizes"
assert len(request) == ETH_LEN + IP_LEN + ICMP_LEN + len(payload), \
    f"a {len(request)}-byte frame is not the sum of its headers and data"
assert request[ETH_LEN:] == datagram and request[ETH_LEN + IP_LEN:] == message, \
    "each layer sits right after the header that wraps it"
assert request[ETH_LEN + IP_LEN + ICMP_LEN:] == payload, "the data starts at byte 42"

# %% [markdown]
# ## 2. Reading it back, field by field
#
# The same codecs parse: each `parse` returns the header and a view of what follows it, so
# we peel the envelopes in the order a receiver does. The IPv4 and ICMP parsers also check
# the checksums, and would raise `MalformedPacket` if one did not verify (notebook 3 is all
# about that).

# %%
eth_header, rest = ethernet.parse(request)
ip_header, rest = ipv4.parse(rest)
icmp_header, data = icmp.parse(rest)
print(f"Ethernet  dst {format_mac(eth_header.dst)}  src {format_mac(eth_header.src)}  "
      f"type {eth_header.ethertype:#06x}")
print(f"IPv4      {ip_header.src} -> {ip_header.dst}  protocol {ip_header.protocol}  "
      f"ttl {ip_header.ttl}  total length {int.from_bytes(request[16:18], 'big')}  "
      f"checksum {int.from_bytes(request[24:26], 'big'):#06x}")
print(f"ICMP      type {icmp_header.type}  code {icmp_header.code}  id {icmp_header.identifier:#x}"
      f"  seq {icmp_header.sequence}")
print(f"data      {bytes(data)!r}")

# %% [markdown]
# A header checksum is chosen so that the one's complement sum of the whole header, checksum
# included, is 0xFFFF; computing the checksum over a correct header therefore gives 0.

# %%
assert (eth_header.dst, eth_header.src) == (STACK_MAC, PEER_MAC), "MACs read back"
assert ip_header.src == IPv4Address(peer_ip) and ip_header.dst == IPv4Address(stack_ip)
assert ip_header.ttl == ttl and ip_header.protocol == 1, "TTL and protocol 1 (ICMP)"
assert (icmp_header.type, icmp_header.identifier, icmp_header.sequence) == (8, identifier, sequence)
assert bytes(data) == payload, "the data comes back unchanged"
assert internet_checksum(request[ETH_LEN:ETH_LEN + IP_LEN]) == 0, "the IPv4 header verifies"
assert internet_checksum(request[ETH_LEN + IP_LEN:]) == 0, "the ICMP message verifies"

# %% [markdown]
# `viz.header_fields` knows where every field is; `viz.byte_map` draws the frame as a
# hexdump, 16 bytes a row, each field in its own colour. Find the two addresses of each
# layer, the ethertype `08 00`, the protocol byte `01`, the ICMP type `08`.

# %%
fig, ax = plt.subplots(figsize=(11, 4.5))
viz.byte_map(request, ax=ax, title=f"the echo request, {len(request)} bytes")
viz.save_figure(fig, "01-request-bytes")

# %% [markdown]
# ## 3. A live stack to send it to
#
# Now the real thing. A `Stack` is netstack's protocols with no I/O at all; an `Engine`
# is the loop that moves frames between a **port** (a network card) and the stack. Here the
# port is a *memory port*: one end of a virtual cable whose other end we hold ourselves,
# playing the peer. The engine runs on a `VirtualClock`, and `Lockstep` runs its passes for
# us (no threads, no real time), so every run is the same.
#
# We give the stack a static ARP entry for the peer so that it can answer without first
# asking who the peer is (ARP has notebook 2 to itself).

# %%
clock = VirtualClock()
pool = MbufPool(64)                                   # the stack's packet buffers ("mbufs")
config = StackConfig(mac=STACK_MAC, address=f"{stack_ip}/24", random_seed=seed,
                     static_arp={peer_ip: PEER_MAC})
stack = Stack(config, pool)
cable = f"nb01-{seed}"
port = open_port(f"memory:{cable}", mac=STACK_MAC, pool=pool)
wire = MemoryPort(cable)                              # the other end: we are the peer
engine = Engine(stack, port, pool, clock=clock)
net = Lockstep([engine], clock)
net.settle()                                          # start: the stack says hello

peer_pool = MbufPool(16)


def frames_on_the_wire():
    """What the stack sent since we last looked (our end of the cable)."""
    return [m.tobytes() for m in wire.rx_burst(peer_pool, 32)]


hello = frames_on_the_wire()
print([describe_frame(f) for f in hello])
print(stack.counters.snapshot())

# %% [markdown]
# Starting, the stack announced itself with a *gratuitous ARP* ("192.0.2.1 is at
# 02:00:00:00:00:01"): that is the `arp.tx.gratuitous`, `eth.tx.frames` and `port.tx` above.

# %% [markdown]
# ## 4. One pass of the engine, step by step
#
# Each pass of the engine (`Engine._one_pass` in `netstack/engine/loop.py`) does, in order:
#
# 1. **receive**: `port.rx_burst` fills mbufs with the frames that arrived, and puts their
#    indices on the **in ring**;
# 2. **dispatch**: takes them off the in ring and calls `stack.receive(frame, now)` for each;
#    the stages run, and whatever they send lands in `stack.outgoing`;
# 3. timers, then the end of the pass (nothing to do for us here);
# 4. **collect**: `stack.outgoing` onto the **out ring**;
# 5. **transmit**: `port.tx_burst` sends what the out ring holds.
#
# Rather than let `Lockstep` run a whole pass, we call those steps one by one and look at
# the rings and the counters after each. First we put the request on the cable.

# %%
steps = []          # (step name, counters that moved, in ring, out ring)
before = dict(stack.counters)


def look(step):
    """Record what moved since the previous look."""
    global before
    now_counters = dict(stack.counters)
    moved = {k: v - before.get(k, 0) for k, v in now_counters.items() if v != before.get(k, 0)}
    before = now_counters
    steps.append((step, moved, engine.in_ring.count(), engine.out_ring.count()))
    print(f"{step:10s} in ring {engine.in_ring.count()}  out ring {engine.out_ring.count()}  "
          f"outgoing {len(stack.outgoing)}  moved {moved}")


port.deliver(request)       # what the peer's end of the cable does when the peer sends
now = clock.now()
free_before = pool.available
engine._receive(now)
look("receive")
engine._dispatch(now)
look("dispatch")
stack.advance(now)
engine._end_pass(now)
look("timers")
engine._collect()
look("collect")
engine._transmit(now)
look("transmit")
replies = frames_on_the_wire()
print([describe_frame(f) for f in replies])

# %% [markdown]
# Read the "moved" column from top to bottom: it is the frame's path.
#
# * **receive**: `port.rx` +1 and the in ring holds one mbuf.
# * **dispatch**: the Ethernet stage saw an IPv4 frame for our MAC (`eth.rx.ipv4`), the
#   IPv4 stage checked the header and found it addressed to us (`ipv4.rx.packets`,
#   `ipv4.rx.delivered`), the ICMP stage saw an echo request (`icmp.rx.echo_request`) and
#   answered it (`icmp.tx.echo_reply`), handing the reply down through IPv4
#   (`ipv4.tx.packets`) and Ethernet (`eth.tx.frames`) into `stack.outgoing`.
# * **collect** moves the reply to the out ring; **transmit** sends it (`port.tx`).
#
# Beside the packet counts, the port counts bytes (`port.rx_bytes`, `port.tx_bytes`: one
# frame each way, the request and its reply, same length). The copy ledger counts them
# again: a memory cable, like a TAP device, copies every frame it carries
# (`copy.port_rx`, `copy.port_tx`; a DPDK port would hand over the buffer itself).
#
# No `engine.*` counter moved: those count trouble (`engine.drop.stack_error` when a stage
# raises, for instance), and there was none. Nothing counts `.drop.` either.

# %%
moved_total = {}
for _, moved, _, _ in steps:
    for name, amount in moved.items():
        moved_total[name] = moved_total.get(name, 0) + amount
path = ["port.rx", "eth.rx.ipv4", "ipv4.rx.packets", "ipv4.rx.delivered",
        "icmp.rx.echo_request", "icmp.tx.echo_reply", "ipv4.tx.packets", "eth.tx.frames",
        "port.tx"]
frame_bytes = len(request)
counted_in_bytes = {"port.rx_bytes": frame_bytes, "copy.port_rx": frame_bytes,
                    "port.tx_bytes": frame_bytes, "copy.port_tx": frame_bytes}
assert moved_total == dict.fromkeys(path, 1) | counted_in_bytes, \
    f"the counters that moved: {moved_total}"
assert [s[2] for s in steps] == [1, 0, 0, 0, 0], "the in ring held the request for one step"
assert [s[3] for s in steps] == [0, 0, 0, 1, 0], "the out ring held the reply for one step"
assert not [n for n in moved_total if n.startswith("engine.") or ".drop." in n], "no drops"
assert len(replies) == 1, f"{len(replies)} frames came out for one request"
assert pool.available == free_before, "every mbuf went back to the pool"

# %% [markdown]
# ## 5. The reply
#
# The stack answered with the same ICMP message turned around: type 0 (*echo reply*), the
# same identifier, sequence number and data (RFC 792 says so), in an IPv4 datagram with the
# addresses swapped, in an Ethernet frame with the MACs swapped. The stack picked its own
# TTL (`StackConfig.default_ttl`) and IPv4 identification, so the IPv4 checksum is new too.

# %%
reply = replies[0]
r_eth, rest = ethernet.parse(reply)
r_ip, rest = ipv4.parse(rest)          # raises if the IPv4 checksum were wrong
r_icmp, r_data = icmp.parse(rest)      # same for the ICMP checksum
print(describe_frame(reply))
print(f"ttl {r_ip.ttl}, identification {r_ip.identification}")
assert (r_eth.dst, r_eth.src) == (PEER_MAC, STACK_MAC), "the MACs are swapped"
assert (r_ip.src, r_ip.dst) == (ip_header.dst, ip_header.src), "the addresses are swapped"
assert r_icmp.type == icmp.TYPE_ECHO_REPLY == 0 and r_icmp.code == 0, "an echo reply"
assert (r_icmp.identifier, r_icmp.sequence) == (identifier, sequence), "same id and sequence"
assert bytes(r_data) == payload, "the data is echoed unchanged"
assert r_ip.ttl == config.default_ttl, "the reply carries the stack's own TTL"
assert len(reply) == len(request), "same headers, same data: same length"

# %%
fig, ax = plt.subplots(figsize=(11, 4.5))
viz.byte_map(reply, ax=ax, title="the echo reply: addresses swapped, type 0")
viz.save_figure(fig, "01-reply-bytes")

# %% [markdown]
# ## 6. The same, at full speed
#
# Calling the pass's steps by hand was only to watch. Normally `Lockstep.settle` runs
# whole passes until nothing moves. Send a second request (the next sequence number): the
# counters must move by exactly the same amounts.

# %%
second = ethernet.build(
    ethernet.EthernetHeader(STACK_MAC, PEER_MAC, ethernet.ETHERTYPE_IPV4),
    ipv4.build(header, icmp.build(icmp.IcmpHeader.echo_request(identifier, sequence + 1),
                                  payload)))
before_run = dict(stack.counters)
passes_before = engine.passes
port.deliver(second)
net.settle()
moved_again = {k: v - before_run.get(k, 0) for k, v in stack.counters.items()
               if v != before_run.get(k, 0)}
out = frames_on_the_wire()
print(f"{engine.passes - passes_before} pass(es), moved {moved_again}")
print([describe_frame(f) for f in out])
assert moved_again == moved_total, "a full pass moves the same counters as our steps did"
assert len(out) == 1 and icmp.parse(ipv4.parse(ethernet.parse(out[0])[1])[1])[0].sequence \
    == sequence + 1, "one reply, to the second request"

# %% [markdown]
# ## 7. The whole journey in one picture
#
# Each box is a place the frame passed through, with the counter it bumped on the way.

# %%
boxes = [
    ("wire", "peer sends\n1 frame"),
    ("port", "port.rx\n+{}".format(moved_total["port.rx"])),
    ("in ring", f"held {steps[0][2]}"),
    ("Ethernet", "eth.rx.ipv4\n+{}".format(moved_total["eth.rx.ipv4"])),
    ("IPv4", "ipv4.rx.\ndelivered\n+{}".format(moved_total["ipv4.rx.delivered"])),
    ("ICMP", "echo_request\n+{}\necho_reply\n+{}".format(
        moved_total["icmp.rx.echo_request"], moved_total["icmp.tx.echo_reply"])),
    ("IPv4", "ipv4.tx.\npackets\n+{}".format(moved_total["ipv4.tx.packets"])),
    ("Ethernet", "eth.tx.frames\n+{}".format(moved_total["eth.tx.frames"])),
    ("out ring", f"held {steps[3][3]}"),
    ("port", "port.tx\n+{}".format(moved_total["port.tx"])),
]
fig, ax = plt.subplots(figsize=(13, 3))
width, gap = 1.0, 0.25
for i, (name, note) in enumerate(boxes):
    x = i * (width + gap)
    ax.add_patch(plt.Rectangle((x, 0), width, 1, facecolor="#dbe9f6" if i < 6 else "#fbe3d6",
                               edgecolor="black"))
    ax.text(x + width / 2, 0.82, name, ha="center", va="center", fontsize=9, weight="bold")
    ax.text(x + width / 2, 0.4, note, ha="center", va="center", fontsize=7.5)
    if i:
        ax.annotate("", xy=(x, 0.5), xytext=(x - gap, 0.5),
                    arrowprops={"arrowstyle": "->"})
ax.set_xlim(-0.1, len(boxes) * (width + gap))
ax.set_ylim(-0.2, 1.2)
ax.axis("off")
ax.set_title("an echo request's journey (blue: in, orange: the reply going out)")
viz.save_figure(fig, "01-pipeline")

# %% [markdown]
# ## Try it
#
# * Change `ttl` to 1 in the parameters: the stack still answers (the TTL matters to
#   routers, not to the destination).
# * Build the request with a wrong IPv4 checksum (flip a byte of `request[24:26]`) and send
#   it: which counter moves, and does anything come out?
# * Address it to another IP in the subnet: look for `ipv4.drop.*`.

# %%
net.close()
wire.close()
