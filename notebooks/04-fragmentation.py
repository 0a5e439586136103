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
# # 4. IPv4 fragmentation and reassembly
#
# An IPv4 datagram may be up to 65535 bytes long, but a link carries at most its MTU in one
# frame (1500 bytes on Ethernet; every IPv4 host must accept at least 576). When a datagram
# does not fit, the sender cuts it into **fragments**, each a datagram of its own, and only
# the final receiver glues them back together (RFC 791 §3.2, "Fragmentation and
# Reassembly").
#
# You will watch two live netstack stacks, `A` (192.0.2.1) and `B` (192.0.2.2): `A` sends a
# 4000-byte datagram at MTU 1500 and at MTU 576; we carry the frames to `B` by hand, in
# order, shuffled, or with some missing, and look at what `B` holds in memory, when it gives
# up, and what it tells the sender. Then we measure how losing single fragments loses whole
# datagrams.
#
# Assumes notebooks 1 to 3 (Ethernet frames, the IPv4 header, ICMP echo). About 15 minutes.

# %% tags=["parameters"]
seed = 1                  # every random choice in the notebook derives from this
datagram_size = 4000      # bytes of the IPv4 datagram A sends, 20-byte header included
mtus = (1500, 576)        # the link MTUs we compare
reassembly_timeout = 30.0 # seconds B waits for missing fragments (StackConfig; Linux: 30)
max_datagrams = 16        # incomplete datagrams B holds at once (flood defence)
memory_limit = 20_000     # bytes B may hold for incomplete datagrams (flood defence)
loss_rates = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4)  # fragment loss rates to measure
datagrams_per_rate = 200  # datagrams sent at each loss rate

# %% [markdown]
# ## Two stacks and a "wire" we carry by hand
#
# Each stack is a real `netstack.Stack`, wrapped in the transcript `Harness` that lets us
# hand it frames (`deliver`), move its clock (`now` and `stack.advance`) and collect what it
# sent (`drain`). Both know each other's MAC address statically, so no ARP gets in the way.
# Nothing here reads a clock or sleeps: time is just a number we move.

# %%
import math
import random
from ipaddress import IPv4Address, IPv4Interface

import matplotlib.pyplot as plt

from netstack import viz
from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.testing import Harness, decode, describe_frame

A_IP, B_IP = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
A_MAC, B_MAC = bytes([2, 0, 0xC0, 0, 2, 1]), bytes([2, 0, 0xC0, 0, 2, 2])
ETH, IP_HEADER, ICMP_HEADER = 14, 20, 8
ECHO_PAYLOAD = datagram_size - IP_HEADER - ICMP_HEADER  # so the datagram is datagram_size


def make_stack(ip, mac, peer_ip, peer_mac, mtu=1500, **tunables):
    config = StackConfig(mac=mac, address=IPv4Interface(f"{ip}/24"), mtu=mtu,
                         static_arp={peer_ip: peer_mac}, random_seed=seed,
                         reassembly_timeout=reassembly_timeout, **tunables)
    return Harness(Stack(config, MbufPool(1024)))


def send_big_ping(sender, sequence=1):
    """A sends one echo request whose IPv4 datagram is datagram_size bytes; its frames."""
    sender.stack.icmp.send_echo(B_IP, 7, sequence, bytes(ECHO_PAYLOAD), sender.now)
    return sender.drain()


# %% [markdown]
# ## One datagram, two MTUs
#
# Each fragment carries its own 20-byte IPv4 header, so at MTU 1500 there is room for
# 1480 bytes of data, and at MTU 576 for 556. But the **fragment offset** field counts in
# units of 8 bytes (it has only 13 bits), so every fragment except the last must carry a
# multiple of 8 bytes: 1480 is one, 556 is not, and 552 is used instead. The **MF** ("more
# fragments") flag is set on every fragment but the last, and all of them share the
# sender's **identification** so the receiver knows which belong together.

# %%
def fragment_table(frames):
    rows = []
    for frame in frames:
        f = decode(frame)
        wire_offset = int.from_bytes(frame[ETH + 6:ETH + 8], "big") & 0x1FFF  # 8-byte units
        rows.append({"id": f["ip.identification"], "offset_units": wire_offset,
                     "offset": f["ip.fragment_offset"], "mf": f["ip.more_fragments"],
                     "data": len(f["payload"]), "ip_len": len(frame) - ETH})
    return rows


tables = {}
for mtu in mtus:
    a = make_stack(A_IP, A_MAC, B_IP, B_MAC, mtu=mtu)
    tables[mtu] = fragment_table(send_big_ping(a))
    print(f"MTU {mtu}: {len(tables[mtu])} fragments")
    for r in tables[mtu]:
        print(f"   offset field {r['offset_units']:4d} (x8 = byte {r['offset']:4d})  "
              f"MF={int(r['mf'])}  data {r['data']:4d} B  IP length {r['ip_len']:4d} B")

# %% [markdown]
# The number of fragments follows from the arithmetic: the data (datagram minus its
# header) divided by the largest multiple of 8 that fits after a header, rounded up.
# We check every rule of RFC 791 §3.2 on what the stack actually sent.

# %%
data_len = datagram_size - IP_HEADER
for mtu, rows in tables.items():
    per_fragment = (mtu - IP_HEADER) // 8 * 8
    expected = math.ceil(data_len / per_fragment)
    assert len(rows) == expected, f"MTU {mtu}: {len(rows)} fragments, expected {expected}"
    assert all(r["ip_len"] <= mtu for r in rows), f"MTU {mtu}: a fragment is over the MTU"
    assert all(r["offset"] == 8 * r["offset_units"] for r in rows), "offset field is in 8-byte units"
    assert all(r["data"] % 8 == 0 for r in rows[:-1]), "non-final fragments carry 8-byte multiples"
    assert all(r["mf"] for r in rows[:-1]) and not rows[-1]["mf"], "MF on all but the last"
    assert len({r["id"] for r in rows}) == 1, "all fragments share one identification"
    assert [r["offset"] for r in rows] == [sum(x["data"] for x in rows[:i]) for i in range(len(rows))], \
        "each fragment starts where the previous one ended"
    assert sum(r["data"] for r in rows) == data_len, "the fragments carry all the data, once"
    print(f"MTU {mtu}: {expected} fragments of up to {per_fragment} data bytes - all rules hold")

# %% [markdown]
# Each bar below is one fragment, drawn over the byte range of the original payload it
# carries; the label is the value of the offset field on the wire (bytes / 8). Notice the
# short last fragment, and that the overhead (one more header per fragment) grows as the
# MTU shrinks.

# %%
fig, axes = plt.subplots(len(mtus), 1, figsize=(9, 1.2 + 0.9 * len(mtus)), sharex=True,
                         squeeze=False)
axes = axes[:, 0]
for ax, (mtu, rows) in zip(axes, tables.items(), strict=True):
    for r in rows:
        ax.barh(0, r["data"], left=r["offset"], height=0.6,
                color="tab:orange" if not r["mf"] else "tab:blue", edgecolor="black")
        ax.text(r["offset"] + r["data"] / 2, 0, f"{r['offset_units']}", ha="center",
                va="center", fontsize=8, color="white")
    ax.set_yticks([])
    ax.set_ylabel(f"MTU {mtu}\n{len(rows)} frags", rotation=0, ha="right", va="center")
axes[-1].set_xlabel("byte of the original IP payload (blue: MF=1, orange: last, MF=0)")
axes[0].set_title(f"Fragments of one {datagram_size}-byte datagram (label: offset field, 8-byte units)")
fig.tight_layout()
viz.save_figure(fig, "04-fragment-offsets")

# %% [markdown]
# ## Reassembly does not care about order
#
# The network may deliver fragments in any order. The receiver keys them by (source,
# destination, protocol, identification), keeps them sorted by offset, and the datagram
# is complete when the last fragment (MF=0) has told it the total length and there is no
# hole. Here `B` gets the MTU-576 fragments shuffled; it answers the ping only once it has
# them all, and its answer is again a 4000-byte datagram, which `A` reassembles in turn.

# %%
rng = random.Random(seed)
a = make_stack(A_IP, A_MAC, B_IP, B_MAC, mtu=mtus[-1])
b = make_stack(B_IP, B_MAC, A_IP, A_MAC, mtu=mtus[-1])
frames = send_big_ping(a)
order = list(range(len(frames)))
rng.shuffle(order)
print("delivery order:", order)
replies_before_last = []
for i in order[:-1]:
    b.deliver([frames[i]])
    replies_before_last += b.drain()
held = b.stack.ipv4.reassembler.memory_used
b.deliver([frames[order[-1]]])
reply_frames = b.drain()
a.deliver(reply_frames)
print(f"B held {held} bytes before the last fragment; then sent {len(reply_frames)} frames")
print(describe_frame(reply_frames[0]))
assert replies_before_last == [], "B answered before it had the whole datagram"
assert b.stack.counters["ipv4.reassembled"] == 1, "B did not reassemble the shuffled fragments"
assert b.stack.counters["icmp.rx.echo_request"] == 1, "B did not see the echo request"
assert b.stack.ipv4.reassembler.memory_used == 0, "B still holds memory after completing"
assert a.stack.counters["ipv4.reassembled"] == 1, "A did not reassemble B's fragmented reply"
assert a.stack.counters["icmp.rx.echo_reply"] == 1, "A's echo reply did not arrive whole"

# %% [markdown]
# ## Loss: held memory and the reassembly timer
#
# If a fragment never comes, the receiver cannot know it: it keeps the others, and a timer
# started by the first fragment to arrive (`StackConfig.reassembly_timeout`, 30 s like
# Linux; RFC 1122 §3.3.2 suggests 60 to 120) finally throws them away. If fragment zero had
# arrived, it also sends the source an **ICMP time exceeded, code 1 ("fragment reassembly
# time exceeded")**, quoting that first fragment's header (RFC 792). Without fragment zero
# it cannot quote the transport header, so it stays silent.
#
# Three datagrams reach `B` a sixth of the timeout apart (5 s for 30 s): #1 loses a middle fragment, #2 loses fragment zero,
# #3 arrives whole (but shuffled). We record how many bytes `B`'s reassembler holds (each
# fragment's data plus a fixed bookkeeping charge) as time passes.

# %%
a = make_stack(A_IP, A_MAC, B_IP, B_MAC, mtu=mtus[-1])
b = make_stack(B_IP, B_MAC, A_IP, A_MAC, mtu=mtus[-1])
reassembler = b.stack.ipv4.reassembler
memory = [(0.0, 0)]
errors = []  # (time, frame) of ICMP errors B sent


def at(t):
    """Move A and B to time t (timers fire); note B's memory and what B sent."""
    a.now = b.now = t
    a.stack.advance(t)
    b.stack.advance(t)
    for frame in b.drain():
        f = decode(frame)
        if f.get("icmp.type") == 11:
            errors.append((t, frame))
    memory.append((t, reassembler.memory_used))


plan = {1: "lose a middle fragment", 2: "lose fragment zero", 3: "arrive whole, shuffled"}
gap = reassembly_timeout / 6
starts = {1: 0.0, 2: gap, 3: 2 * gap}
step = gap / 10
ids = {}
for number, start in starts.items():
    at(start)
    frames = send_big_ping(a, sequence=number)
    ids[number] = decode(frames[0])["ip.identification"]
    if number == 1:
        lost = {rng.randrange(1, len(frames) - 1)}
    elif number == 2:
        lost = {0}
    else:
        lost = set()
    kept = [f for i, f in enumerate(frames) if i not in lost]
    if number == 3:
        rng.shuffle(kept)
    for i, frame in enumerate(kept):  # one fragment per millisecond
        b.deliver([frame])
        at(start + 0.001 * (i + 1))
    print(f"t={start:4.1f}s datagram #{number} (id {ids[number]}): {plan[number]}; "
          f"B holds {reassembler.memory_used} B in {len(reassembler)} datagram(s)")
t = starts[3]
while t < starts[3] + reassembly_timeout:
    t = round(t + step, 6)
    at(t)
print(f"t={t}s: B holds {reassembler.memory_used} B; counters:",
      b.stack.counters.matching("ipv4.drop.reassembly"))
for when, frame in errors:
    print(f"  t={when:.1f}s B sent: {describe_frame(frame)}")

# %% [markdown]
# What we expect, and check: #1 and #2 each hold their fragments until exactly
# `reassembly_timeout` after their first fragment arrived, and then memory falls back to
# zero; #3 never adds to the held memory once complete; only #1 (whose fragment zero
# arrived) earns an ICMP time exceeded, and it quotes #1's identification.

# %%
def memory_at(t):
    return [m for when, m in memory if when <= t][-1]


quote = decode(errors[0][1])["payload"] if errors else b""
quoted_id = int.from_bytes(quote[4:6], "big") if len(quote) >= 6 else None
before_3 = memory_at(starts[3] - step)
assert 0 < memory_at(starts[2] - step) < before_3, "incomplete datagrams hold memory"
assert memory_at(starts[3] + step) == before_3, "the complete datagram #3 left nothing behind"
assert memory_at(reassembly_timeout - step) == before_3, "memory freed before the timeout"
assert memory_at(reassembly_timeout + step) < before_3, "#1 not freed at its timeout"
assert memory[-1][1] == 0 and len(reassembler) == 0, "memory did not return to 0 after the timeout"
assert b.stack.counters["ipv4.drop.reassembly_timeout"] == 2, "two datagrams should time out"
assert len(errors) == 1, f"expected one ICMP time exceeded (for #1 only), got {len(errors)}"
assert decode(errors[0][1])["icmp.code"] == 1, "time exceeded code 1 = fragment reassembly"
assert abs(errors[0][0] - reassembly_timeout) <= step, f"ICMP sent at {errors[0][0]} s"
assert quoted_id == ids[1], f"the ICMP error quotes id {quoted_id}, datagram #1 was {ids[1]}"

# %%
fig, ax = plt.subplots(figsize=(9, 3))
times, held = zip(*memory, strict=True)
ax.step(times, held, where="post")
for number, start in starts.items():
    ax.axvline(start, color="grey", ls=":")
    ax.text(start + step, max(held) * 1.02, f"#{number}", fontsize=9)
for when, _ in errors:
    ax.axvline(when, color="tab:red", ls="--", label="ICMP time exceeded sent")
ax.set_xlabel("time (s, virtual)")
ax.set_ylabel("bytes held by B's reassembler")
ax.set_title(f"Reassembly memory: incomplete datagrams freed after {reassembly_timeout:g} s")
ax.legend(loc="upper right")
viz.save_figure(fig, "04-reassembly-memory")

# %% [markdown]
# ## Limits: why a receiver cannot hold everything
#
# An attacker can send first fragments that are never completed; each one would pin memory
# for 30 s. So netstack (like Linux) caps both the number of incomplete datagrams
# (`reassembly_max_datagrams`) and the bytes held (`reassembly_memory_limit`), and evicts
# the **oldest** incomplete datagram to make room. We flood `B` with 40 datagrams missing
# their last fragment and check the caps are never exceeded, and that every datagram that
# was started is accounted for: still held, evicted, timed out, or reassembled.

# %%
a = make_stack(A_IP, A_MAC, B_IP, B_MAC, mtu=mtus[-1])
b = make_stack(B_IP, B_MAC, A_IP, A_MAC, mtu=mtus[-1], reassembly_max_datagrams=max_datagrams,
               reassembly_memory_limit=memory_limit)
reassembler = b.stack.ipv4.reassembler
peak_bytes = peak_datagrams = 0
for sequence in range(40):
    for frame in send_big_ping(a, sequence)[:-1]:
        b.deliver([frame])
        peak_bytes = max(peak_bytes, reassembler.memory_used)
        peak_datagrams = max(peak_datagrams, len(reassembler))
c = b.stack.counters
print(f"peak {peak_bytes} B (limit {memory_limit}), peak {peak_datagrams} datagrams "
      f"(limit {max_datagrams}); started {c['ipv4.reassembly.started']}, "
      f"evicted {c['ipv4.drop.reassembly_evicted']}, held now {len(reassembler)}")
assert peak_bytes <= memory_limit, f"held {peak_bytes} B, over the {memory_limit} B limit"
assert peak_datagrams <= max_datagrams, f"held {peak_datagrams} datagrams at once"
assert c["ipv4.drop.reassembly_evicted"] > 0, "the flood should have forced evictions"
assert c["ipv4.reassembly.started"] == (len(reassembler) + c["ipv4.drop.reassembly_evicted"]
                                        + c["ipv4.drop.reassembly_timeout"]
                                        + c["ipv4.reassembled"]), "a datagram went missing"

# %% [markdown]
# ## Losing one fragment loses the datagram
#
# Fragments have no retransmission of their own: if any one of the `n` fragments is lost,
# the whole datagram is (TCP or the application must resend all of it). With each fragment
# lost independently with probability `p`, a datagram survives with probability
# `(1 - p) ** n`: the more fragments, the worse. (Kent and Mogul's 1987 paper
# "Fragmentation considered harmful" made this argument; it is one reason TCP uses path MTU
# discovery, RFC 1191, to avoid fragmenting at all.)
#
# We send `datagrams_per_rate` datagrams at each loss rate, at each MTU, dropping fragments
# with a seeded random generator, and count what `B` reassembles.

# %%
measured = {mtu: [] for mtu in mtus}
fragments_per = {}
for mtu in mtus:
    for p in loss_rates:
        a = make_stack(A_IP, A_MAC, B_IP, B_MAC, mtu=mtu)
        b = make_stack(B_IP, B_MAC, A_IP, A_MAC, mtu=mtu)
        for sequence in range(datagrams_per_rate):
            frames = send_big_ping(a, sequence)
            fragments_per[mtu] = len(frames)
            b.deliver([f for f in frames if rng.random() >= p])
            b.drain()  # B's echo replies: not needed here
        measured[mtu].append(b.stack.counters["ipv4.reassembled"] / datagrams_per_rate)
    print(f"MTU {mtu} ({fragments_per[mtu]} fragments):",
          " ".join(f"p={p:.2f}:{q:.3f}" for p, q in zip(loss_rates, measured[mtu], strict=True)))

# %% [markdown]
# The measurement is random, so we compare with a margin that depends on the numbers, not
# on luck: a fraction measured over `N` independent datagrams has a standard deviation of
# `sqrt(q (1 - q) / N)`; we allow five of them (plus one datagram's worth), which a correct
# stack fails for fewer than one seed in a million.

# %%
for mtu in mtus:
    n = fragments_per[mtu]
    for p, got in zip(loss_rates, measured[mtu], strict=True):
        q = (1 - p) ** n
        margin = 5 * math.sqrt(q * (1 - q) / datagrams_per_rate) + 1 / datagrams_per_rate
        assert abs(got - q) <= margin, f"MTU {mtu}, p={p}: delivered {got:.3f}, theory {q:.3f}"
by_count = sorted(mtus, key=lambda m: fragments_per[m])
few, many = by_count[0], by_count[-1]
if fragments_per[few] < fragments_per[many] and max(loss_rates) > 0:
    assert sum(measured[few]) > sum(measured[many]), "fewer fragments should survive loss better"
assert measured[mtus[0]][0] == measured[mtus[-1]][0] == 1.0, "without loss every datagram arrives"

# %%
fig, ax = plt.subplots(figsize=(7, 4))
grid = [i / 100 for i in range(int(max(loss_rates) * 100) + 1)]
for i, mtu in enumerate(mtus):
    color = f"C{i}"
    n = fragments_per[mtu]
    ax.plot(grid, [(1 - p) ** n for p in grid], color=color, label=f"(1-p)^{n}  (MTU {mtu})")
    ax.plot(loss_rates, measured[mtu], "o", color=color, label=f"measured, MTU {mtu}")
ax.plot(grid, [1 - p for p in grid], color="grey", ls=":", label="one unfragmented packet")
ax.set_xlabel("fragment loss rate p")
ax.set_ylabel("fraction of datagrams delivered")
ax.set_title(f"{datagram_size}-byte datagrams: any lost fragment loses the datagram")
ax.legend()
viz.save_figure(fig, "04-delivery-vs-loss")

# %% [markdown]
# ## What to take away
#
# - Fragments are full IPv4 datagrams sharing an identification; offsets count 8-byte
#   units, so all but the last carry multiples of 8 bytes, and only the last has MF=0.
# - The receiver reassembles in any order, but must hold partial datagrams in memory, with
#   a timeout (and an ICMP time exceeded, code 1, if it had fragment zero) and hard limits.
# - A datagram in `n` fragments survives loss with probability `(1-p)^n`: fragmentation
#   multiplies loss, which is why TCP avoids it with path MTU discovery.
#
# Try: `mtus = (1500, 576, 68)`, or a shorter `reassembly_timeout`, or `seed = 2`.
