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
# # 8. Sequence numbers and the receive window
#
# TCP numbers every byte it sends. Those numbers live on a **32-bit circle**: after
# 4 294 967 295 comes 0. In this notebook we watch a transfer cross that point, we send
# segments out of order and see the receiver put them back together, and we stop a
# receiving application from reading to see the **window** close and the sender **probe**
# it, waiting longer and longer between probes.
#
# Two netstack stacks talk over an in-memory cable with a delay, in virtual time
# (`netstack.testing.lockstep`); for the reordering part, we play the sender ourselves with
# `TcpPeer`. Assumes notebook 7 (the handshake, SYN and ACK numbers). About 20 minutes.

# %% tags=["parameters"]
seed = 1  # every random choice derives from this (ISNs, ports, the data, the arrival order)
bytes_before_wrap = 10_000  # the sender's ISN is 2**32 - this: the numbers wrap this far in
transfer = 32 * 1024  # bytes the application sends
rcvbuf = 8192  # the receiver's buffer (bytes): the largest window it can offer
one_way_delay = 0.01  # seconds, each direction of the cable
reader_pause = 4.0  # seconds the receiving application waits before it reads anything
reordered_segments = 5  # how many segments the reordering experiment sends
segment_size = 1000  # bytes in each of them

# %%
import os
import random
from ipaddress import IPv4Address, IPv4Interface
from itertools import pairwise

import matplotlib.pyplot as plt

from netstack import viz
from netstack.clock import VirtualClock
from netstack.engine.loop import Engine
from netstack.engine.ports import open_port
from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.stages.tcp import TcpConfig, TcpState
from netstack.stages.tcp.seq import Seq
from netstack.testing import Harness, TcpPeer
from netstack.testing.lockstep import Lockstep
from netstack.wire.tcp import FLAG_ACK, FLAG_SYN, MssOption

rng = random.Random(seed)
A_IP, B_IP = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
A_MAC, B_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")

# %% [markdown]
# ## Numbers on a circle (RFC 9293 §3.4)
#
# A sequence number is 32 bits, so it wraps. Is 5 "after" 4 294 967 290? On a circle both
# are true in some sense; TCP decides by the shorter way round (RFC 1982, *serial number
# arithmetic*): `b` is ahead of `a` when going forward from `a` to `b` is less than half the
# circle. netstack's `Seq` class does this arithmetic, and refuses to compare with a plain
# int (so a forgotten wrap is an error, not a silent bug).

# %%
near_end = Seq(2**32 - 6)
after = near_end + 11
print(f"{near_end.value} + 11 = {after.value};  after > near_end: {after > near_end};  "
      f"distance: {after - near_end}")
assert after.value == 5 and after > near_end and after - near_end == 11
assert Seq(0) - Seq(2**31 - 1) < 0, "more than half the circle ahead counts as behind"

# %% [markdown]
# ## A transfer across the wrap, into a receiver that does not read
#
# Stack A (192.0.2.1) sends `transfer` bytes to stack B (192.0.2.2). We force A's initial
# sequence number to `2**32 - bytes_before_wrap` (the `isn_hook` tests use), so its
# numbers wrap to 0 early in the transfer.
#
# B's buffer is only `rcvbuf` bytes, and its application does not read for `reader_pause`
# seconds. B's **receive window**, the number of bytes it tells A it can still take, is the
# free space in that buffer. As it fills, the window shrinks to **zero**, and A must stop.
#
# We keep the options simple (no window scaling, SACK or timestamps), so the window field
# in each header is the window in bytes.

# %%
clock = VirtualClock()
tcp_config = TcpConfig(rcvbuf=rcvbuf, rcvbuf_autotune=False, window_scaling=False,
                       timestamps=False, sack=False)
engines = []
cable = f"nb08-{os.getpid()}-{id(clock)}"  # a new cable name on each run of this cell
for mac, ip in ((A_MAC, A_IP), (B_MAC, B_IP)):
    pool = MbufPool(1024)
    stack = Stack(StackConfig(mac=mac, address=IPv4Interface(f"{ip}/24"), random_seed=seed,
                              tcp=tcp_config), pool)
    port = open_port(f"memory:{cable}?delay={one_way_delay}", mac=mac, pool=pool,
                     counters=stack.counters)
    engines.append(Engine(stack, port, pool, clock=clock))
net = Lockstep(engines, clock)
a, b = engines
a.stack.tcp.isn_hook = lambda *_: 2**32 - bytes_before_wrap

events = []  # what A's connection saw: the sender's view
a.stack.trace.subscribe(events.append)
data = rng.randbytes(transfer)

listener = net.call(b, lambda stack, now: stack.tcp.listen(None, 80, 4))
client = net.call(a, lambda stack, now: stack.tcp.connect(None, 0, B_IP, 80, now))
sent = 0


def writer(now: float) -> None:  # A's application: write whatever the buffer takes
    global sent
    if client.state == TcpState.ESTABLISHED and sent < len(data) and client.writable:
        sent += client.write_app(memoryview(data)[sent:sent + client.writable])
        client.app_did_write(now)


a.add_pass_hook(writer)
net.run_until(reader_pause)  # B's application sleeps: nothing is read
server = listener.accept_queue.popleft()
print(f"t={net.now:g} s: A wrote {sent} bytes, B holds {server.readable} unread, "
      f"B's window: {server.receiver.rcv_wnd} bytes")

# %% [markdown]
# Now B's application wakes up and reads everything, and keeps reading until all the bytes
# are there. Reading frees the buffer, B announces the open window, and A carries on.

# %%
received = bytearray()


def read_all(now: float) -> None:  # B's application, run in each of B's passes
    if server.readable:
        received.extend(server.read_app(1 << 20))
        server.app_did_read(now)


b.add_pass_hook(read_all)
net.call(b, lambda stack, now: read_all(now))  # wake up now
net.run_for(10.0, stop=lambda: len(received) == len(data))
net.close()
print(f"t={net.now:.3f} s: B received {len(received)} bytes, intact: {bytes(received) == data}")

# %% [markdown]
# ### What the sender saw
#
# A time-sequence diagram (as `tcptrace` draws them), from A's trace: each data segment is a
# vertical bar from its first to its last sequence number, at the time it left (red: sent
# again). The lower line is the ACK B sent back (everything below it arrived), the upper
# line is ACK + window, the **right edge** of what B allows A to send. A sender may never go
# above the upper line.
#
# The numbers are drawn relative to A's ISN, so the wrap does not show as a jump: the dotted
# line marks where the real 32-bit numbers went from 2**32 - 1 to 0. Look for the two lines
# meeting while B's application sleeps (window 0), then the steps resuming when B reads.
# The probes are single bytes, too thin to see here: the right-hand panel zooms in on them.

# %%
seg_events = [e for e in events if e.kind in ("segment_out", "segment_in", "retransmit")]
isn = next(e.seq for e in seg_events if e.kind == "segment_out" and "S" in e.flags)
data_out = [e for e in seg_events if e.kind == "segment_out" and e.length > 0]
tiny = [e for e in data_out if e.length == 1]  # the probes
fig, (ax, zoom) = plt.subplots(1, 2, figsize=(13, 5), width_ratios=(3, 2))
viz.time_sequence(seg_events, ax=ax, title="A -> B: the wrap, the zero window, the restart")
ax.axhline(2**32 - isn, color="grey", linestyle=":", lw=1)
ax.annotate("sequence numbers wrap to 0", (0, 2**32 - isn), xytext=(0, 4),
            textcoords="offset points", fontsize=8, color="grey")
viz.time_sequence(seg_events, ax=zoom, title="zoom: one-byte probes into the zero window")
if tiny:
    edge = (tiny[0].seq - isn) % 2**32
    zoom.set_ylim(edge - 4, edge + 4)
    zoom.set_xlim(tiny[0].time - 0.5, reader_pause + 0.1)
    for p in tiny:
        zoom.annotate(f"{p.time:.2f} s", (p.time, edge + 1), xytext=(2, 6),
                      textcoords="offset points", fontsize=8, rotation=45)
viz.save_figure(fig, "08-time-sequence")

# %% [markdown]
# ### Facts, checked
#
# * The sequence numbers wrapped: some data segment starts at a lower number than the one
#   before it, and netstack delivered every byte in order anyway.
# * A never sent data beyond B's right edge (ACK + window), except one byte at a time while
#   the window was zero: the **persist probes** (RFC 9293 §3.8.6.1). Without probes, a lost
#   window update would leave both sides waiting for each other forever.
# * The probes **back off**: each wait is twice the previous one (like the retransmission
#   timer, notebook 9), so a receiver that stays closed for long costs few segments.

# %%
outs = [e for e in events if e.kind == "segment_out" and e.length > 0]
wrapped = [(x.seq, y.seq) for x, y in pairwise(outs)
           if y.seq < x.seq and Seq(y.seq) > Seq(x.seq)]  # a smaller int, yet ahead
assert bytes(received) == data, "every byte arrived, in order, across the wrap"
assert wrapped, "the sequence numbers never wrapped: raise transfer or lower bytes_before_wrap"
print(f"the wrap: a segment at {wrapped[0][0]}, the next at {wrapped[0][1]}")

# Walk the sender's view in order: the right edge B last announced, and each segment sent.
right_edge, window, probes, beyond = None, None, [], []
for e in events:
    if e.kind == "segment_in" and "." in e.flags:
        right_edge, window = Seq(e.ack) + e.window, e.window
    elif e.kind == "segment_out" and e.length > 0 and right_edge is not None:
        end = Seq(e.seq) + e.length
        if window == 0:
            probes.append(e)
        elif end > right_edge:
            beyond.append(e)
zero_windows = [e for e in events if e.kind == "segment_in" and e.window == 0]
print(f"B advertised a zero window {len(zero_windows)} times; A sent {len(probes)} probes at "
      f"t = {[round(p.time, 3) for p in probes]}")

assert zero_windows, "B's window never closed"
assert not beyond, f"A sent beyond the right edge: {beyond[:3]}"
assert len(probes) >= 3 and all(p.length == 1 for p in probes), "probes are one byte each"
closed_at = zero_windows[0].time
waits = [probes[0].time - closed_at] + [y.time - x.time for x, y in pairwise(probes)]
print("waits between probes:", [round(w, 3) for w in waits])
for earlier, later in pairwise(waits):
    assert abs(later - 2 * earlier) < 1e-6, f"the probe interval went {earlier} -> {later}"
assert a.stack.counters["tcp.tx.window_probe"] >= 1
assert server.state == TcpState.ESTABLISHED, "a receiver that answers probes is never dropped"

# %% [markdown]
# ## Out of order: the ACK waits at the hole (RFC 9293 §3.10.7.4, RFC 5681 §4.2)
#
# Now we play the *sender* ourselves against a netstack receiver, with our own ISN close to
# 2**32 as well. We cut `reordered_segments` segments of `segment_size` bytes, and deliver
# them in a shuffled order in which the **first** one comes last, as if it had been delayed
# in the network.
#
# Each segment that arrives beyond a gap is kept (in the *reassembly queue*) but cannot be
# delivered: the ACK still names the first missing byte, and it is sent **at once** (a
# *duplicate ACK*: the sender learns something is missing). When the missing segment
# arrives, the ACK jumps over everything that was waiting.

# %%
stack = Stack(StackConfig(mac=B_MAC, address=IPv4Interface(f"{B_IP}/24"),
                          static_arp={A_IP: A_MAC}, random_seed=seed, tcp=tcp_config),
              MbufPool(256))
harness = Harness(stack)
peer = TcpPeer(harness, stack_port=80, port=40000, ip=A_IP, mac=A_MAC)
peer_isn = 2**32 - rng.randrange(1, reordered_segments * segment_size)  # wraps inside them
rx_listener = stack.tcp.listen(None, 80, 4)
peer.send(FLAG_SYN, seq=peer_isn, options=(MssOption(1460),))
syn_ack = peer.expect(FLAG_SYN | FLAG_ACK, ack=peer_isn + 1)
peer.send(FLAG_ACK, seq=peer_isn + 1, ack=syn_ack.seq + 1)
receiver = rx_listener.accept_queue.popleft()

pieces = [rng.randbytes(segment_size) for _ in range(reordered_segments)]
order = list(range(1, reordered_segments))
rng.shuffle(order)
order.append(0)  # the first segment arrives last
start = peer_isn + 1
acks, expected = [], []
have = set()
for i in order:
    peer.send(FLAG_ACK, seq=start + i * segment_size, ack=syn_ack.seq + 1, data=pieces[i])
    have.add(i)
    contiguous = 0
    while contiguous in have:
        contiguous += 1
    expected.append((start + contiguous * segment_size) % 2**32)
    acks.append(peer.expect(FLAG_ACK).ack)
    print(f"segment {i} arrives (seq {(start + i * segment_size) % 2**32}): ACK {acks[-1]}, "
          f"readable {receiver.readable}")

# %%
assert acks == expected, f"ACKs {acks}, expected (by hand) {expected}"
assert len(set(acks[:-1])) == 1 and acks[0] == start % 2**32, "the ACK stayed at the hole"
assert (Seq(acks[-1]) - Seq(acks[0])) == reordered_segments * segment_size, "then it jumped"
assert receiver.read_app(1 << 20) == b"".join(pieces), "reassembled in order, across the wrap"

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(range(1, len(acks) + 1), [Seq(x) - Seq(start) for x in acks], "s-",
        drawstyle="steps-post", label="ACK sent (bytes after the first data byte)")
ax.scatter(range(1, len(order) + 1), [i * segment_size for i in order], color="C1",
           label="start of the segment that arrived")
ax.set_xlabel("arrival number")
ax.set_ylabel("bytes")
ax.set_title("out-of-order arrivals: the ACK waits at the hole, then jumps")
ax.legend()
viz.save_figure(fig, "08-reordering")

# %% [markdown]
# ## What to remember
#
# * Sequence numbers wrap at 2**32; "after" means "less than half the circle ahead".
# * The receiver acknowledges the **first byte it is missing**; data past a hole waits in
#   the reassembly queue and each such arrival gets an immediate duplicate ACK.
# * The window is the receiver's free buffer. At zero, the sender sends one-byte **probes**,
#   further and further apart, until the window opens.
#
# Try: `reader_pause = 10` (more probes; each twice as late), `rcvbuf = 4096`, another
# `seed` (another arrival order). Next, notebook 9: when the sender retransmits, and how it
# decides how long to wait.
