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
# # 9. The retransmission timer: RTT, SRTT, RTTVAR, RTO
#
# When a segment is lost, nobody tells the sender. It finds out by **waiting**: if no ACK
# comes within the *retransmission timeout* (RTO), it sends the segment again. Wait too
# little and it resends segments that were merely slow; wait too long and a lost segment
# stalls the connection. RFC 6298 says how to choose: measure round-trip times (RTT),
# keep a smoothed average (SRTT) and a measure of how much they vary (RTTVAR), and set
# RTO = SRTT + 4 × RTTVAR.
#
# We play the peer of one netstack connection with `TcpPeer`, and we decide exactly how
# long each ACK takes, with random jitter. Then we check netstack's estimator, sample by
# sample, against the RFC's formulas computed here by hand. Finally we stop answering, to
# watch the timer back off, and see why a retransmitted segment gives no RTT sample
# (Karn's rule). Assumes notebooks 7 and 8. About 25 minutes.

# %% tags=["parameters"]
seed = 1  # every random choice derives from this (the ISNs, the jitter)
base_rtt = 0.2  # seconds: the smallest round trip the peer gives us
jitter = 0.15  # seconds: each round trip adds a uniform random delay in [0, jitter)
samples = 30  # how many round trips we measure
lost_copies = 7  # how many times in a row the peer ignores one segment (the backoff part)
max_rto = 10.0  # seconds: the cap on the backed-off RTO (Linux: 120)
min_rto = 0.2  # seconds: the floor on the RTO (Linux's 200 ms; RFC 6298 says 1 s)

# %%
import random
from ipaddress import IPv4Address, IPv4Interface
from itertools import pairwise

import matplotlib.pyplot as plt

from netstack import viz
from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.stages.tcp import TcpConfig, TcpState
from netstack.stages.tcp.info import tcp_info
from netstack.testing import Harness, TcpPeer
from netstack.wire.tcp import FLAG_ACK, FLAG_SYN, MssOption

SYN, ACK = FLAG_SYN, FLAG_ACK
STACK_IP, PEER_IP = IPv4Address("192.0.2.2"), IPv4Address("192.0.2.1")
STACK_MAC, PEER_MAC = bytes.fromhex("020000000002"), bytes.fromhex("020000000001")
rng = random.Random(seed)

# %% [markdown]
# ## The setup
#
# One stack, with two features switched off because they change the story told here:
# **timestamps** (RFC 7323; with them, every ACK says which copy of a segment it answers,
# so Karn's rule is not needed) and the **tail loss probe** (RFC 8985: an earlier, gentler
# timer in front of the RTO). Without timestamps, netstack times one segment per round
# trip, the classic way. We also set the RTO's floor and ceiling from the parameters.
# We record the trace: `rtt` events (each sample, and the estimator after it), `rto`
# events (each expiry of the timer), `retransmit` and the segments.

# %%
tcp = TcpConfig(timestamps=False, sack=False, tail_loss_probe=False, min_rto=min_rto,
                max_rto=max_rto)
stack = Stack(StackConfig(mac=STACK_MAC, address=IPv4Interface(f"{STACK_IP}/24"),
                          static_arp={PEER_IP: PEER_MAC}, random_seed=seed, tcp=tcp),
              MbufPool(256))
events = []
stack.trace.subscribe(events.append)
harness = Harness(stack)
peer = TcpPeer(harness, stack_port=50000, port=80, ip=PEER_IP, mac=PEER_MAC)
G = stack.tcp.config.clock_granularity  # RFC 6298's G: netstack's clock granularity, 1 ms

# %% [markdown]
# ## Before any measurement: RTO = 1 second (RFC 6298 §2.1)
#
# A new connection knows nothing about its path, so the RFC fixes the first timeout at
# one second. Our application connects; we (the peer) **ignore the first SYN**. After
# exactly one second the stack sends it again, and the timeout doubles for the next try.

# %%
conn = stack.tcp.connect(None, 50000, PEER_IP, 80, harness.now)
syn = peer.expect(SYN)
rto_before = tcp_info(conn, harness.now).tcpi_rto  # microseconds, as Linux reports it
print(f"tcpi_rto before any sample: {rto_before} µs")
harness.advance(1.0 - 0.001)
peer.expect_nothing()  # 999 ms: still waiting
harness.advance(0.001)
syn_again = peer.expect(SYN, seq=syn.seq)  # the same SYN, the same sequence number
print(f"the SYN was sent again at t={harness.now:g} s; tcpi_rto now "
      f"{tcp_info(conn, harness.now).tcpi_rto} µs")

# %% [markdown]
# This time we answer, after `base_rtt`. Which SYN is the SYN-ACK answering, the first or
# the second? The stack cannot know: measured from the first, the RTT looks 1 s too long;
# from the second, maybe too short. **Karn's rule** (RFC 6298 §3): never take an RTT sample
# from a segment that was retransmitted. So the handshake gives no sample, and the RTO
# stays at its backed-off 2 s until a clean measurement comes. (RFC 6298 §5.7 even asks
# for 3 s once data starts, after a lost SYN; netstack keeps the 2 s.)

# %%
peer_isn = rng.getrandbits(32)
harness.advance(base_rtt)
peer.send(SYN | ACK, seq=peer_isn, ack=syn.seq + 1, options=(MssOption(1460),))
peer.expect(ACK, ack=peer_isn + 1)
rtt_events = [e for e in events if e.kind == "rtt"]

assert rto_before == 1_000_000, f"the first RTO is {rto_before} µs, not 1 s"
assert [e.rto for e in events if e.kind == "rto"] == [1.0], "the first timeout is 1 s"
assert conn.state == TcpState.ESTABLISHED
assert not rtt_events, "Karn's rule: no RTT sample from a retransmitted SYN"
assert tcp_info(conn, harness.now).tcpi_rto >= 2_000_000, "backed off until a real sample"

# %% [markdown]
# ## Measuring under jitter (RFC 6298 §2)
#
# Now `samples` round trips: the application writes a small message, and we ACK it after
# `base_rtt` plus a random extra delay. Each ACK of a timed segment gives one sample R.
# The estimator:
#
# * first sample: SRTT = R, RTTVAR = R / 2;
# * each later one: RTTVAR = ¾ RTTVAR + ¼ |SRTT − R| (with the *old* SRTT), then
#   SRTT = ⅞ SRTT + ⅛ R;
# * always: RTO = SRTT + max(G, 4 × RTTVAR), then kept within [min_rto, max_rto].
#
# SRTT follows the average slowly; RTTVAR grows when samples scatter, and the RTO keeps a
# margin of four times that scatter above the average.

# %%
imposed = []
seq = syn.seq + 1
for i in range(samples):
    conn.write_app(b"ping %03d" % i)
    conn.app_did_write(harness.now)
    segment = peer.expect(ACK, seq=seq)
    seq += len(segment.payload)
    delay = base_rtt + rng.uniform(0, jitter)
    imposed.append(delay)
    harness.advance(delay)
    peer.send(ACK, seq=peer_isn + 1, ack=seq)
rtt_events = [e for e in events if e.kind == "rtt"]
for e in rtt_events[:3]:
    print(e.describe())
print("...")

# %% [markdown]
# Now the same computation by hand, from the samples alone, and a comparison with what
# netstack reported after each one. They must agree to the last bit: the notebook and the
# stack do the same floating-point operations in the same order.

# %%
def rfc6298(rtts, g=G, lower=min_rto, upper=max_rto):
    """SRTT, RTTVAR and RTO after each sample, as RFC 6298 §2 says."""
    out, srtt, rttvar = [], None, None
    for r in rtts:
        if srtt is None:
            srtt, rttvar = r, r / 2
        else:
            rttvar = (1 - 1 / 4) * rttvar + 1 / 4 * abs(srtt - r)
            srtt = (1 - 1 / 8) * srtt + 1 / 8 * r
        rto = min(max(srtt + max(g, 4 * rttvar), lower), upper)
        out.append((srtt, rttvar, rto))
    return out


by_hand = rfc6298([e.rtt for e in rtt_events])
mismatches = [(i, e, mine) for i, (e, mine) in enumerate(zip(rtt_events, by_hand, strict=True))
              if (e.srtt, e.rttvar, e.rto) != mine]
print(f"{len(rtt_events)} samples, {len(mismatches)} differ from the hand computation")
print(f"last: SRTT {by_hand[-1][0] * 1e3:.2f} ms, RTTVAR {by_hand[-1][1] * 1e3:.2f} ms, "
      f"RTO {by_hand[-1][2] * 1e3:.1f} ms")

# %%
assert len(rtt_events) == samples, f"{len(rtt_events)} samples for {samples} round trips"
assert all(abs(e.rtt - d) < 1e-9 for e, d in zip(rtt_events, imposed, strict=True)), \
    "each sample is exactly the delay we imposed"
assert not mismatches, f"netstack differs from RFC 6298 at {mismatches[0]}"
assert all(e.rto >= min_rto for e in rtt_events), "the RTO never goes below its floor"
assert all(e.rto > e.srtt for e in rtt_events), "the RTO keeps a margin above SRTT"
info = tcp_info(conn, harness.now)
assert info.tcpi_rtt == round(rtt_events[-1].srtt * 1e6), "tcp_info shows the same SRTT (µs)"

# %%
fig, ax = plt.subplots(figsize=(10, 4.5))
n = range(1, len(rtt_events) + 1)
ax.plot(n, [e.rtt * 1e3 for e in rtt_events], "o", color="grey", ms=4, label="sample R")
ax.plot(n, [e.srtt * 1e3 for e in rtt_events], "-", label="SRTT")
ax.plot(n, [e.rttvar * 1e3 for e in rtt_events], "-", label="RTTVAR")
ax.plot(n, [e.rto * 1e3 for e in rtt_events], "-", lw=2, label="RTO")
ax.axhline(min_rto * 1e3, color="black", ls=":", lw=1, label="min_rto")
ax.set_xlabel("sample number")
ax.set_ylabel("milliseconds")
ax.set_title("RFC 6298's estimator, one point per RTT sample (netstack's trace)")
ax.legend(ncol=5, fontsize=8, loc="upper right")
ax.set_ylim(0, max(e.rto for e in rtt_events) * 1e3 * 1.25)
viz.save_figure(fig, "09-srtt-rttvar-rto")

# %% [markdown]
# Look at the first few points: with one sample, RTTVAR = R/2, so the RTO starts at
# R + 2R = 3R, very cautious. As samples come in, RTTVAR settles to the typical spread of
# the jitter, and the RTO to about SRTT + 4 × that.
#
# ## Silence: exponential backoff (RFC 6298 §5.5) and Karn's rule again
#
# The application writes once more, and we **ignore** that segment and its first
# `lost_copies - 1` retransmissions: the path looks dead. Each time the timer expires the
# stack resends the segment and **doubles** the RTO, up to `max_rto`. Doubling makes a
# sender that shares a congested path back away fast, and costs few segments if the peer
# is gone. Then we acknowledge the last copy.

# %%
rto_at_start = rtt_events[-1].rto
conn.write_app(b"are you there?")
conn.app_did_write(harness.now)
lost = peer.expect(ACK, seq=seq)
sent_at = [harness.now]
for _ in range(lost_copies - 1):
    deadline = harness.now + conn.sender.rto.rto
    harness.advance(deadline - harness.now - 0.001)
    peer.expect_nothing()  # the timer has not expired yet...
    harness.advance(0.001)
    peer.expect(ACK, seq=seq, payload=lost.payload)  # ...now it has: the same bytes again
    sent_at.append(harness.now)
expiries = [e for e in events if e.kind == "rto"][1:]  # after the SYN's
harness.advance(base_rtt)
srtt_before_ack = conn.sender.rto.srtt
peer.send(ACK, seq=peer_isn + 1, ack=seq + len(lost.payload))
seq += len(lost.payload)
samples_after_ack = [e for e in events if e.kind == "rtt"][len(rtt_events):]
info_after_ack = tcp_info(conn, harness.now)
for e in expiries:
    print(e.describe())

# %%
timeouts = [e.rto for e in expiries]
assert len(timeouts) == lost_copies - 1, timeouts
assert timeouts[0] == rto_at_start, "the first timeout is the RTO from the estimator"
for earlier, later in pairwise(timeouts):
    assert later == min(2 * earlier, max_rto), f"the RTO went {earlier} -> {later}"
assert all(t <= max_rto for t in timeouts), "the backed-off RTO never exceeds max_rto"
assert [e.backoff for e in expiries] == list(range(1, lost_copies)), "counted consecutively"
gaps = [b - a for a, b in pairwise(sent_at)]
assert all(abs(g - t) < 1e-9 for g, t in zip(gaps, timeouts, strict=True)), \
    "each copy left exactly one (backed-off) RTO after the previous one"
assert not samples_after_ack, "Karn's rule: the ACK of a retransmitted segment is no sample"
assert conn.sender.rto.srtt == srtt_before_ack, "SRTT untouched by the ambiguous ACK"
still_backed_off = min(2 * timeouts[-1], max_rto)
assert info_after_ack.tcpi_backoff > 0 and conn.sender.rto.rto == still_backed_off, \
    "the backed-off RTO stays until a clean sample"

# %% [markdown]
# The backed-off RTO stays after the ACK: the path just proved slow, so the stack keeps the
# long timeout until a segment sent **once** is acknowledged. One more round trip, and the
# estimator takes over again.

# %%
conn.write_app(b"back to normal")
conn.app_did_write(harness.now)
fresh = peer.expect(ACK, seq=seq)
harness.advance(base_rtt)
peer.send(ACK, seq=peer_isn + 1, ack=seq + len(fresh.payload))
last = [e for e in events if e.kind == "rtt"][-1]
print(last.describe())
assert abs(last.rtt - base_rtt) < 1e-9, "a clean sample again"
assert tcp_info(conn, harness.now).tcpi_backoff == 0, "a valid sample clears the backoff"
assert last.rto < timeouts[-1], "the RTO came back down from the backoff"

# %%
fig, ax = plt.subplots(figsize=(9, 4.5))
times = [e.time for e in expiries]
armed = [*timeouts, still_backed_off]  # the timeout armed when each copy left
ends = [*times, sent_at[-1] + base_rtt]  # each expired, but the last copy was acknowledged
ax.step([*sent_at, ends[-1]], [*armed, armed[-1]], where="post", lw=2, label="RTO armed")
ax.plot(times, timeouts, "o", color="C3", label="timer expired: copy resent")
ax.plot(ends[-1], armed[-1], "s", color="C2", label="ACK (no RTT sample: Karn)")
ax.axhline(max_rto, color="black", ls=":", lw=1, label="max_rto")
for t, rto in zip(sent_at, armed, strict=True):
    ax.annotate(f"{rto:.3g} s", (t, rto), xytext=(4, 4), textcoords="offset points", fontsize=8)
ax.set_xlabel("time (s)")
ax.set_ylabel("timeout (s)")
ax.set_title("exponential backoff: each expiry doubles the RTO, up to max_rto")
ax.legend(fontsize=8, loc="upper left")
viz.save_figure(fig, "09-backoff")

# %% [markdown]
# ## What to remember
#
# * Before any sample the RTO is **1 s**. Samples update SRTT (gain ⅛) and RTTVAR (gain
#   ¼); RTO = SRTT + max(G, 4 RTTVAR), kept within [min_rto, max_rto].
# * **Karn's rule**: no sample from a retransmitted segment (the ACK is ambiguous); the
#   backed-off RTO stays until a segment sent once is acknowledged.
# * Each expiry **doubles** the RTO, up to a maximum.
#
# Try: `jitter = 0` (RTTVAR decays towards 0 and the RTO sinks towards SRTT), a larger
# `jitter`, `lost_copies = 12` (the cap), or `min_rto = 1.0` (what the RFC recommends).
