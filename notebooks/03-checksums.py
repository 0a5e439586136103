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
# # 3. Checksums: what they catch
#
# Bits get damaged on their way: a noisy cable, a bad memory chip in a router, a buggy
# driver. IPv4, ICMP, UDP and TCP each carry a 16-bit **Internet checksum** (RFC 1071) so
# that the receiver can notice and drop a damaged packet rather than act on it.
#
# In this notebook we:
#
# 1. compute the checksum of a real IPv4 header by hand, and compare with `netstack.checksum`;
# 2. update it incrementally after a router decrements the TTL (RFC 1624), as routers do;
# 3. damage frames on purpose, in different ways, hand them to a live stack, and count what
#    the stack catches. Some kinds of damage are *always* caught, one kind *never* is.
#
# It assumes notebook 1 (the frame and its headers). About 15 minutes to read.

# %% tags=["parameters"]
seed = 1              # every random choice (which bits flip, which words swap) comes from it
trials = 400          # damaged frames per error pattern
payload_len = 56      # echo data bytes (Linux ping's default)
link_frames = 300     # frames sent over the corrupting emulated link (section 4)

# %%
import random
import struct
from ipaddress import IPv4Address

import matplotlib.pyplot as plt

from netstack import viz
from netstack.checksum import checksum_adjust, internet_checksum, ones_complement_sum
from netstack.clock import VirtualClock
from netstack.engine.loop import Engine
from netstack.engine.ports import open_port
from netstack.engine.ports.memory import MemoryPort
from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.testing import Harness
from netstack.testing.frames import decode, icmp_echo_frame
from netstack.testing.lockstep import Lockstep
from netstack.wire import ipv4
from netstack.wire.ethernet import parse_mac

rng = random.Random(seed)
US, PEER = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
US_MAC, PEER_MAC = parse_mac("02:00:00:00:00:01"), parse_mac("02:00:00:00:00:02")


def new_stack():
    config = StackConfig(mac=US_MAC, address=f"{US}/24", random_seed=seed,
                         static_arp={PEER: PEER_MAC})
    return Stack(config, MbufPool(256))


# %% [markdown]
# ## 1. The sum, by hand
#
# We let a live stack send a ping and take the IPv4 header of the frame it sent: 20 bytes,
# read as ten 16-bit words. The checksum (RFC 1071) is computed with the checksum field set
# to zero:
#
# 1. add the ten words as ordinary integers;
# 2. *fold*: whatever overflowed past 16 bits is added back at the bottom ("end-around
#    carry"), until the result fits in 16 bits; this is the **one's complement sum**;
# 3. invert every bit: that is the checksum.

# %%
h = Harness(new_stack())
h.call("ping the peer", lambda s, now: s.icmp.send_echo(PEER, 1, 1, bytes(payload_len), now))
frame = h.drain()[0]
header = bytes(frame[14:34])
words = list(struct.unpack("!10H", header))
print("header words:", " ".join(f"{w:04x}" for w in words))
print(f"the checksum field (word 5) holds {words[5]:#06x}")

zeroed = words.copy()
zeroed[5] = 0
total = sum(zeroed)
print(f"1. plain sum       {total:#07x}")
folded = total
while folded >> 16:
    folded = (folded & 0xFFFF) + (folded >> 16)
    print(f"2. fold the carry  {folded:#06x}")
by_hand = ~folded & 0xFFFF
print(f"3. invert          {by_hand:#06x}")

# %%
header_zeroed = header[:10] + b"\0\0" + header[12:]
assert by_hand == words[5], f"by hand {by_hand:#06x}, the stack wrote {words[5]:#06x}"
assert internet_checksum(header_zeroed) == by_hand, "netstack.checksum agrees with our sum"
assert ones_complement_sum(header) == 0xFFFF, \
    "a correct header, checksum included, sums to 0xFFFF (all ones: minus zero)"
assert internet_checksum(header) == 0, "so a receiver just checks that the checksum is 0"

# %% [markdown]
# The last two lines are how a receiver verifies: it sums the header *with* the checksum in
# it. The checksum is the one's complement of the rest, and anything plus its complement
# is all ones (0xFFFF), whose complement is 0.
#
# ## 2. A router decrements the TTL
#
# Every router that forwards the datagram lowers its TTL by one, so it must fix the
# checksum. Summing the whole header again is wasteful: only one word changed (TTL and
# protocol share word 4). RFC 1624 gives the update from the old checksum `HC`, the old word
# `m` and the new word `m'`:  `HC' = ~(~HC + ~m + m')`, all in one's complement arithmetic.
# `netstack.checksum.checksum_adjust` implements it.

# %%
def decrement_ttl(header):
    """(new header by incremental update, new header by full recomputation)."""
    old_word, old_ck = struct.unpack_from("!HH", header, 8)
    new_word = old_word - 0x0100                        # TTL is the high byte of word 4
    quick = bytearray(header)
    struct.pack_into("!HH", quick, 8, new_word, checksum_adjust(old_ck, old_word, new_word))
    full = bytearray(header)
    struct.pack_into("!HH", full, 8, new_word, 0)
    struct.pack_into("!H", full, 10, internet_checksum(full))
    return bytes(quick), bytes(full)


quick, full = decrement_ttl(header)
print(f"TTL {header[8]} -> {quick[8]}: checksum {words[5]:#06x} -> "
      f"{struct.unpack_from('!H', quick, 10)[0]:#06x}")
parsed, _ = ipv4.parse(quick + frame[34:])        # raises MalformedPacket if it is wrong
assert quick == full, "the incremental update gives the same header as summing it all again"
assert parsed.ttl == header[8] - 1, "and the header, TTL one lower, still verifies"

# %% [markdown]
# One example proves little. Take the header down all the way from TTL 255 to TTL 1, with
# random identification fields, and compare the two methods at every hop.

# %%
hops = 0
for _ in range(20):
    h2 = bytearray(header)
    struct.pack_into("!HH", h2, 4, rng.randrange(65536), 0)   # a new id, no flags
    h2[8], h2[10:12] = 255, b"\0\0"
    struct.pack_into("!H", h2, 10, internet_checksum(h2))
    current = bytes(h2)
    while current[8] > 1:
        quick, full = decrement_ttl(current)
        assert quick == full, f"mismatch at TTL {current[8]}: {quick.hex()} != {full.hex()}"
        current, hops = quick, hops + 1
print(f"{hops} hops, incremental update == full recomputation every time")

# %% [markdown]
# ## 3. Damage, and what the stack catches
#
# Now we break things. We take an echo request addressed to the stack and damage its ICMP
# message (header and data: exactly what the ICMP checksum covers) in one of these ways:
#
# | pattern | what happens |
# |---|---|
# | 1 bit | one bit flips |
# | 2 bits | two bits flip, anywhere |
# | burst <= 15 | a run of 2 to 15 bits: its first and last bits flip, the bits between at random |
# | burst of 16 | the same with a 16-bit run |
# | 0000 -> ffff | a 16-bit word of zeros becomes all ones |
# | word swap | two different 16-bit words trade places |
#
# Each damaged frame goes to a live stack (`Stack.receive`). If the stack counts
# `icmp.drop.bad_checksum`, the damage was caught; if it accepts the message (an
# `icmp.rx.*` counter moves: usually `icmp.rx.echo_request`, and it answers), it was not.
#
# The echo data is eight zero bytes (where ping keeps a timestamp) then a counting pattern.

# %%
data = bytes(8) + bytes(i % 256 for i in range(8, payload_len))
clean = icmp_echo_frame(US_MAC, PEER_MAC, PEER, US, identifier=1, sequence=1, payload=data)
START = 14 + 20                              # the ICMP message starts after both headers
BITS = (len(clean) - START) * 8


def flip(frame, bit):
    frame[START + bit // 8] ^= 0x80 >> (bit % 8)


def one_bit(frame):
    bit = rng.randrange(BITS)
    flip(frame, bit)
    return [bit]


def two_bits(frame):
    bits = rng.sample(range(BITS), 2)
    for bit in bits:
        flip(frame, bit)
    return bits


def burst(frame, length):
    first = rng.randrange(BITS - length + 1)
    bits = [first, first + length - 1]
    bits += [b for b in range(first + 1, first + length - 1) if rng.random() < 0.5]
    for bit in bits:
        flip(frame, bit)
    return bits


def zero_to_ones(frame):
    zero_words = [i for i in range(START, len(frame), 2) if frame[i:i + 2] == b"\0\0"]
    i = rng.choice(zero_words)
    frame[i:i + 2] = b"\xff\xff"
    return [i]


def word_swap(frame):
    while True:
        i, j = sorted(rng.sample(range(START, len(frame) - 1, 2), 2))
        if frame[i:i + 2] != frame[j:j + 2]:
            break
    frame[i:i + 2], frame[j:j + 2] = frame[j:j + 2], frame[i:i + 2]
    return [i, j]


patterns = {
    "1 bit": one_bit,
    "2 bits": two_bits,
    "burst <= 15": lambda f: burst(f, rng.randrange(2, 16)),
    "burst of 16": lambda f: burst(f, 16),
    "0000 -> ffff": zero_to_ones,
    "word swap": word_swap,
}

# %%
stack = new_stack()


def accepted_count():
    return sum(v for k, v in stack.counters.items() if k.startswith("icmp.rx."))


def verdict(frame):
    """'caught' (dropped for its checksum) or 'missed' (accepted as a valid ICMP message,
    usually an echo request the stack answers), as the live stack says."""
    before = (stack.counters["icmp.drop.bad_checksum"], accepted_count())
    stack.receive(frame, 0.0)
    while stack.outgoing:                               # throw the answers away
        stack.pool.free(stack.outgoing.popleft())
    caught = stack.counters["icmp.drop.bad_checksum"] - before[0]
    accepted = accepted_count() - before[1]
    assert caught + accepted == 1, "every damaged frame is either dropped or accepted"
    return "caught" if caught else "missed"


assert verdict(clean) == "missed", "the undamaged frame is answered"
results = {}                       # pattern -> list of (verdict, what was changed)
for name, damage in patterns.items():
    results[name] = []
    for _ in range(trials):
        frame = bytearray(clean)
        where = damage(frame)
        assert frame != bytearray(clean), "every pattern really damages the frame"
        seen = verdict(bytes(frame))
        # the stack's verdict is exactly "the ICMP checksum no longer verifies"
        assert (seen == "caught") == (internet_checksum(frame[START:]) != 0)
        results[name].append((seen, where))
rates = {name: sum(v == "caught" for v, _ in r) / len(r) for name, r in results.items()}
for name, rate in rates.items():
    print(f"{name:14s} caught {rate:7.2%}")

# %%
fig, ax = plt.subplots(figsize=(9, 3.8))
bars = ax.bar(list(rates), [100 * r for r in rates.values()],
              color=["#4a90d9" if r == 1 else "#f0a04b" if r > 0 else "#c0392b"
                     for r in rates.values()])
for bar, rate in zip(bars, rates.values(), strict=True):
    ax.text(bar.get_x() + bar.get_width() / 2, 100 * rate + 1, f"{rate:.1%}", ha="center",
            fontsize=9)
ax.set_ylabel("damaged frames dropped (%)")
ax.set_ylim(0, 112)
ax.set_title(f"ICMP checksum: detection by error pattern ({trials} frames each, seed {seed})")
viz.save_figure(fig, "03-detection")

# %% [markdown]
# What the bars say, and why:
#
# * **1 bit: always caught.** Flipping one bit changes one word by a power of two, so the sum
#   changes, and in one's complement arithmetic no single power of two is a multiple of
#   0xFFFF (the only changes that vanish).
# * **bursts of up to 15 bits: always caught.** The damage is smaller than 2^16 - 1 in
#   magnitude and not zero, so again the sum must change.
# * **2 bits: almost always.** It slips through when the two flips hit the *same bit
#   position* of two words and go in opposite directions (one 0 -> 1, the other 1 -> 0):
#   +2^k and -2^k cancel. A few percent of random pairs at most (1 in 16 pairs share a bit
#   position, and then the two bits must differ).
# * **burst of 16: almost always**, but now a whole word may change by exactly 0xFFFF.
# * **0000 -> ffff: never.** One's complement has two zeros, +0 (0x0000) and -0 (0xFFFF);
#   the sum cannot tell them apart.
# * **word swap: never.** Addition does not care about order: a + b = b + a. A checksum that
#   cannot see reordering is one reason Ethernet also has a CRC-32 (the FCS), and why the
#   sum is cheap: it can be computed in any order, 16, 32 or 64 bits at a time.

# %%
assert rates["1 bit"] == 1.0, f"a single-bit error got through ({rates['1 bit']:.2%})"
assert rates["burst <= 15"] == 1.0, "a burst of 15 bits or less got through"
assert rates["word swap"] == 0.0, "a word swap was caught: the sum is not commutative?"
assert rates["0000 -> ffff"] == 0.0, "+0 and -0 must sum the same"
misses = [bits for v, bits in results["2 bits"] if v == "missed"]
for a, b in misses:
    bit_a = (clean[START + a // 8] >> (7 - a % 8)) & 1
    bit_b = (clean[START + b // 8] >> (7 - b % 8)) & 1
    assert a % 16 == b % 16 and bit_a != bit_b, f"an unexpected 2-bit miss: bits {a}, {b}"
print(f"2-bit misses: {len(misses)} of {trials}, each the same bit position, opposite ways")
assert 0.8 < rates["2 bits"] <= 1.0 and 0.8 < rates["burst of 16"] <= 1.0

# %% [markdown]
# ## 4. On an emulated link
#
# netstack's link emulator (`netstack/engine/ports/linkemu.py`) damages frames the way a
# noisy link would: with probability `corrupt`, one random bit **of the whole frame**
# flips. Here every frame is damaged (`corrupt=1`), and the emulator has its own seed. We
# send `link_frames` pings through it to a stack running on a real engine, and ask the
# counters which stage threw each one away.

# %%
clock = VirtualClock()
stack = new_stack()
pool = stack.pool                              # the engine must use the stack's own pool
cable = f"nb03-{seed}"
port = open_port(f"memory:{cable}?corrupt=1&seed={seed}", pool=pool)
wire = MemoryPort(cable)                       # our end of the cable: we are the peer
net = Lockstep([Engine(stack, port, pool, clock=clock)], clock)
net.settle()
wire_pool = MbufPool(64)
wire.rx_burst(wire_pool, 64)                  # the stack's hello (gratuitous ARP)

fates = {}
replies = []
for seq in range(link_frames):
    request = icmp_echo_frame(US_MAC, PEER_MAC, PEER, US, 1, seq, data)
    before = dict(stack.counters)
    port.inner.deliver(request)               # onto the cable; the emulator judges it
    net.settle()
    moved = [k for k, v in stack.counters.items() if v != before.get(k, 0)
             and (".drop." in k or k == "icmp.tx.echo_reply")]
    fate = "answered" if "icmp.tx.echo_reply" in moved else "/".join(sorted(moved))
    fates[fate] = fates.get(fate, 0) + 1
    replies += [m.tobytes() for m in wire.rx_burst(wire_pool, 64)]
print(f"link.corrupt = {stack.counters['link.corrupt']}")
for fate, count in sorted(fates.items(), key=lambda x: -x[1]):
    print(f"{count:4d}  {fate}")

# %% [markdown]
# Most flips land in the IPv4 header or the ICMP message and are dropped by their checksums
# (or, in the IPv4 header, by an even earlier sanity check: a version that is not 4, a
# length that does not fit). Flips in the Ethernet destination make the frame "not for us".
#
# But some pings are *answered*. Those are the flips in the **Ethernet source address**:
# neither the IPv4 nor the ICMP checksum covers the Ethernet header. On a real cable the
# Ethernet FCS (a CRC-32 the network card checks) would catch them; the emulator models no
# FCS. The reply is still right, because the stack sends it to the MAC in its ARP table,
# not back to the (damaged) source MAC. So what reached the application is intact:

# %%
assert stack.counters["link.corrupt"] == link_frames, "every frame was damaged"
assert sum(fates.values()) == link_frames and "" not in fates, \
    "every damaged frame was either answered or dropped by a named counter"
assert all(f == "answered" or f.startswith(("eth.drop.", "ipv4.drop.")) or
           f == "icmp.drop.bad_checksum" for f in fates), "each frame died in one known place"
assert len(replies) == fates.get("answered", 0), "one reply per answered ping"
for r in replies:
    f = decode(r)
    assert f["payload"] == data and f["eth.dst"] == PEER_MAC, \
        "a damaged ping was answered with damaged data"
print(f"{len(replies)} replies, every one carrying exactly the data we sent")

# %%
order = sorted(fates, key=fates.get)
fig, ax = plt.subplots(figsize=(8, 0.4 * len(order) + 1.2))
ax.barh(order, [fates[f] for f in order],
        color=["#c0392b" if f == "answered" else "#4a90d9" for f in order])
ax.set_xlabel(f"frames (of {link_frames}, one bit flipped in each)")
ax.set_title("where single-bit damage was stopped (red: not stopped)")
viz.save_figure(fig, "03-link-fates")
net.close()
wire.close()

# %% [markdown]
# ## Try it
#
# * Change the echo data to all zeros (`bytes(payload_len)`): how does "0000 -> ffff" look
#   now, and why does it not matter which zero word is chosen?
# * Write a pattern that adds 1 to one word and subtracts 1 from another. Caught?
# * UDP lets a sender put 0 in the checksum field to mean "no checksum" (RFC 768). How
#   would a one's complement sum that really is 0 be sent? (Hint: +0 and -0.)
