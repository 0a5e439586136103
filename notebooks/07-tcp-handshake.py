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
# # 7. TCP handshake and teardown, one segment at a time
#
# A TCP connection is a small state machine on each end. In this notebook we drive one
# netstack connection through its whole life and look at every segment it sends and
# receives: the three-way handshake, a little data, the FIN exchange, the TIME-WAIT pause
# at the end, and then a few segments with the RST flag, the "abort" button of TCP.
#
# The other end is not a real stack: it is *us*, playing the peer with
# `netstack.testing.TcpPeer`. We write each segment by hand and check each answer, so
# nothing happens that we did not ask for. The clock is virtual: waiting a minute of
# TIME-WAIT costs no real time.
#
# Assumes: notebooks 1-6 (frames, IPv4, the stack's layers). Reading time: about 20 minutes.

# %% tags=["parameters"]
seed = 1  # every random choice in the notebook derives from this (the ISNs of both ends)
one_way_delay = 0.005  # seconds the peer "takes" before each of its answers
msl = 30.0  # maximum segment lifetime, seconds; TIME-WAIT lasts 2 * msl (netstack's default)
message = b"hello"  # what our application sends once the connection is open
reply = b"hi, netstack"  # what the peer sends back

# %%
import random
from ipaddress import IPv4Address, IPv4Interface

import matplotlib.pyplot as plt

from netstack import viz
from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.stages.tcp import TcpConfig, TcpState
from netstack.testing import Harness, TcpPeer
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN, MssOption

SYN, ACK, FIN, RST = FLAG_SYN, FLAG_ACK, FLAG_FIN, FLAG_RST
STACK_IP, PEER_IP = IPv4Address("192.0.2.2"), IPv4Address("192.0.2.1")
STACK_MAC, PEER_MAC = bytes.fromhex("020000000002"), bytes.fromhex("020000000001")
rng = random.Random(seed)

# %% [markdown]
# ## The setup
#
# One netstack stack at 192.0.2.2, its TCP options reduced to the MSS (no timestamps, SACK or
# window scaling: notebook 10 is about those), so each segment reads in one short line.
# `random_seed` makes the stack's own random choices (its initial sequence number, ISN)
# repeat from run to run. The `Harness` holds the virtual clock and every frame in and out;
# the `TcpPeer` at 192.0.2.1 builds and checks segments for us.
#
# We subscribe to the stack's **trace**: every state change, segment in and segment out of
# a connection arrives in `events` as a typed object (docs/TCP_INFO.md).

# %%
def make_stack() -> Stack:
    tcp = TcpConfig(msl=msl, timestamps=False, sack=False, window_scaling=False)
    config = StackConfig(mac=STACK_MAC, address=IPv4Interface(f"{STACK_IP}/24"),
                         static_arp={PEER_IP: PEER_MAC}, random_seed=seed, tcp=tcp)
    return Stack(config, MbufPool(256))


stack = make_stack()
events = []
stack.trace.subscribe(events.append)
harness = Harness(stack)
peer = TcpPeer(harness, stack_port=50000, port=80, ip=PEER_IP, mac=PEER_MAC)
peer_isn = rng.getrandbits(32)  # the peer's initial sequence number: any 32-bit value
print(f"the peer will start its sequence numbers at {peer_isn}")

# %% [markdown]
# ## The three-way handshake (RFC 9293 §3.5)
#
# Our application calls `connect`. The stack picks its ISN and sends a **SYN**: a segment
# with no data, only the SYN flag and its options. The connection is now in **SYN-SENT**.

# %%
conn = stack.tcp.connect(None, 50000, PEER_IP, 80, harness.now)
syn = peer.expect(SYN)
our_isn = syn.seq
print(f"SYN: seq={syn.seq} options={syn.options}  state={conn.state}")
assert conn.state == TcpState.SYN_SENT, conn.state

# %% [markdown]
# The peer answers with a **SYN-ACK**: its own SYN (with its own ISN) plus an ACK of ours.
# Look at the ACK number it must send: `our_isn + 1`. A SYN carries no data but it
# **consumes one sequence number**, so that it can be acknowledged like data (and
# retransmitted if it is lost). Our stack answers with a bare **ACK** of the peer's SYN,
# again at `peer_isn + 1`, and the connection is **ESTABLISHED**.

# %%
harness.advance(one_way_delay * 2)  # the SYN travels, the SYN-ACK comes back
peer.send(SYN | ACK, seq=peer_isn, ack=our_isn + 1, options=(MssOption(1460),))
third = peer.expect(ACK, seq=our_isn + 1, ack=peer_isn + 1)
print(f"ACK: seq={third.seq} ack={third.ack}  state={conn.state}")

handshake = [e for e in events if e.kind in ("segment_out", "segment_in")]
for e in handshake:
    print(e.describe())

# %%
assert len(handshake) == 3, f"the handshake took {len(handshake)} segments"
assert [e.flags for e in handshake] == ["S", "S.", "."], [e.flags for e in handshake]
assert third.seq == our_isn + 1, "the SYN consumes exactly one sequence number"
assert third.ack == (peer_isn + 1) % 2**32, "the peer's SYN consumes one sequence number too"
assert conn.state == TcpState.ESTABLISHED, conn.state
assert len(third.payload) == 0, "the third segment of the handshake carries no data here"

# %% [markdown]
# ## Some data, both ways
#
# The application writes `message`. It leaves at once, starting at `our_isn + 1`: the first
# data byte has the sequence number right after the SYN. The peer acknowledges it and sends
# its `reply` in the same segment. Our stack does not answer at once: it **delays its ACK**
# (RFC 1122 §4.2.3.2, 40 ms in netstack, like Linux), hoping to carry it on data of its own.

# %%
conn.write_app(message)
conn.app_did_write(harness.now)
data = peer.expect(ACK, seq=our_isn + 1, payload=message)
harness.advance(one_way_delay * 2)
peer.send(ACK, seq=peer_isn + 1, ack=our_isn + 1 + len(message), data=reply)
peer.expect_nothing()  # the ACK waits...
received = conn.read_app(1000)
harness.advance(stack.tcp.config.delayed_ack)  # ...until the delayed-ACK timer fires
delayed = peer.expect(ACK, ack=peer_isn + 1 + len(reply))
print(f"the application read {received!r}; the ACK left {stack.tcp.config.delayed_ack} s later")

# %%
assert received == reply, received
assert data.seq == our_isn + 1, "the first data byte follows the SYN's sequence number"
assert delayed.ack - (peer_isn + 1) == len(reply), "an ACK names the next byte expected"

# %% [markdown]
# ## Closing: FIN, FIN, and TIME-WAIT (RFC 9293 §3.6)
#
# Each direction closes on its own. Our application calls `close`: the stack sends a **FIN**
# (**FIN-WAIT-1**). Like the SYN, a FIN consumes one sequence number. The peer acknowledges
# it (**FIN-WAIT-2**: our direction is closed, the peer's is still open), then sends its own
# FIN. We acknowledge that, and enter **TIME-WAIT**.
#
# Why wait? Our last ACK may be lost; then the peer sends its FIN again and we must still be
# there to answer it. And old duplicate segments of this connection must die out in the
# network before a new connection with the same addresses and ports may start. So the side
# that closed first waits **2 × MSL**, twice the longest a segment is assumed to live.

# %%
harness.advance(one_way_delay)
conn.close(harness.now)
our_fin = peer.expect(FIN | ACK, seq=our_isn + 1 + len(message))
state_after_close = conn.state
harness.advance(one_way_delay * 2)
peer.send(ACK, seq=peer_isn + 1 + len(reply), ack=our_fin.seq + 1)
state_after_fin_acked = conn.state
peer.send(FIN | ACK, seq=peer_isn + 1 + len(reply), ack=our_fin.seq + 1)
last_ack = peer.expect(ACK, seq=our_fin.seq + 1, ack=peer_isn + 1 + len(reply) + 1)
time_wait_entered = harness.now
print(state_after_close, "->", state_after_fin_acked, "->", conn.state)

# %% [markdown]
# Now the clock. We advance to just before 2 × MSL: still TIME-WAIT. In the middle we play
# a peer whose FIN was "lost": it sends it again, and we ACK it again (and TIME-WAIT
# restarts, RFC 9293 §3.10.7.4). Then we let the full 2 × MSL pass after that, and the
# connection is gone.

# %%
assert state_after_close == TcpState.FIN_WAIT_1 and state_after_fin_acked == TcpState.FIN_WAIT_2
assert conn.state == TcpState.TIME_WAIT, conn.state

harness.advance(msl)  # half-way through TIME-WAIT
peer.send(FIN | ACK, seq=peer_isn + 1 + len(reply), ack=our_fin.seq + 1)  # a retransmission
again = peer.expect(ACK, ack=last_ack.ack)
restarted_at = harness.now
harness.advance(2 * msl - 0.001)
still = conn.state
harness.advance(0.001)
print(f"at +{2 * msl - 0.001:g} s: {still}; at +{2 * msl:g} s: {conn.state}")

# %%
changes = [e for e in events if e.kind == "state"]
path = viz.state_path(changes)
print(" -> ".join(path))
time_wait = [e.time for e in changes if e.old == "TIME-WAIT"][0] - restarted_at

assert path == ["CLOSED", "SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
                "CLOSED"], path
assert still == TcpState.TIME_WAIT and conn.state == TcpState.CLOSED
assert abs(time_wait - 2 * msl) < 1e-9, f"TIME-WAIT lasted {time_wait} s after the last FIN"
assert our_fin.ack == last_ack.ack - 1, "the peer's FIN consumed one sequence number"
assert stack.tcp.connection_count == 0, "the connection was released"

# %% [markdown]
# ### The state diagram
#
# RFC 9293's state diagram, with the path our connection took highlighted: the *active
# open* on the left (CLOSED → SYN-SENT → ESTABLISHED) and the *active close* (FIN-WAIT-1 →
# FIN-WAIT-2 → TIME-WAIT). The peer, which closed second, went through CLOSE-WAIT and
# LAST-ACK instead: those are on the diagram too, not on our path.

# %%
fig, ax = plt.subplots(figsize=(9, 9))
viz.state_diagram(path, ax=ax, title="our connection's states")
viz.save_figure(fig, "07-state-path")

# %% [markdown]
# ### The ladder diagram
#
# Time goes down; each arrow is one segment with its flags and its sequence and ACK numbers.
# Follow the numbers: each ACK names the next byte its sender expects, and both SYN and FIN
# take one number each.

# %%
messages = viz.messages_from_harness(harness, stack_name="netstack", peer_name="peer")
fig, ax = plt.subplots(figsize=(9, 8))
viz.ladder(messages, ax=ax, title="handshake, data, teardown")
viz.save_figure(fig, "07-ladder")
assert len(messages) == len(harness.frames), (len(messages), len(harness.frames))

# %% [markdown]
# ## RST: when there is no connection, or it must end now
#
# **A SYN to a closed port.** Nobody listens on port 81. RFC 9293 §3.10.7.1: a segment
# without ACK gets `RST+ACK` with sequence number 0 and an ACK of everything it occupied:
# here `seq + 1`, the SYN's one number. The client's `connect` fails with "connection
# refused".

# %%
stranger = TcpPeer(harness, stack_port=81, port=40001, ip=PEER_IP, mac=PEER_MAC)
probe_isn = rng.getrandbits(32)
stranger.send(SYN, seq=probe_isn)
refused = stranger.expect(RST | ACK)
print(f"SYN seq={probe_isn} -> RST+ACK seq={refused.seq} ack={refused.ack}")
assert refused.seq == 0 and refused.ack == (probe_isn + 1) % 2**32, (refused.seq, refused.ack)
assert stack.counters["tcp.drop.no_socket"] == 1

# %% [markdown]
# **RST in an open connection, and RFC 5961.** In the original TCP any RST whose sequence
# number fell in the receive window closed the connection. An attacker who can guess the
# addresses and ports only had to try one sequence number per window's worth to kill it.
# RFC 5961 §3 narrows this down:
#
# * a RST whose sequence number is **exactly** the next expected one (`rcv_nxt`) closes;
# * a RST elsewhere **in** the window gets a **challenge ACK** (an ACK naming `rcv_nxt`): a
#   real peer that lost its state answers it with an exact RST, a blind attacker never sees it;
# * a RST **outside** the window is dropped silently.
#
# We open a second connection, this time a *passive* one (our stack listens on port 80),
# and try all three.

# %%
listener = stack.tcp.listen(None, 80, 8)
client = TcpPeer(harness, stack_port=80, port=40002, ip=PEER_IP, mac=PEER_MAC)
client_isn = rng.getrandbits(32)
client.send(SYN, seq=client_isn, options=(MssOption(1460),))
syn_ack = client.expect(SYN | ACK, ack=client_isn + 1)
client.send(ACK, seq=client_isn + 1, ack=syn_ack.seq + 1)
server = listener.accept_queue.popleft()
rcv_nxt = (client_isn + 1) % 2**32
window = syn_ack.window
print(f"{server.state}; rcv_nxt={rcv_nxt}, window={window}")

client.send(RST, seq=rcv_nxt + 10 * window)  # far outside the window
client.expect_nothing()
state_out_of_window = server.state
client.send(RST, seq=rcv_nxt + window // 2)  # inside, but not exact
challenge = client.expect(ACK, ack=rcv_nxt)
state_in_window = server.state
client.send(RST, seq=rcv_nxt)  # exact: the one a real peer sends
client.expect_nothing()
print(f"out of window: {state_out_of_window}; in window: challenge ACK ack={challenge.ack}, "
      f"{state_in_window}; exact: {server.state}")

# %%
assert state_out_of_window == TcpState.ESTABLISHED, "a RST outside the window is ignored"
assert state_in_window == TcpState.ESTABLISHED, "an inexact RST does not close (RFC 5961)"
assert challenge.ack == rcv_nxt and challenge.payload == b"", "the challenge ACK names rcv_nxt"
assert stack.counters["tcp.tx.challenge_ack"] == 1
assert server.state == TcpState.CLOSED, "the exact RST closes the connection"
server_path = viz.state_path([e for e in events if e.kind == "state"
                              and e.conn[1] == (PEER_IP, 40002)])
print(" -> ".join(server_path))
assert server_path[-1] == "CLOSED" and "TIME-WAIT" not in server_path, server_path

# %% [markdown]
# The passive connection's own path printed above starts at CLOSED → SYN-RECEIVED: in
# netstack the listener is a separate object that stays in LISTEN, and each SYN it accepts
# creates a new connection. In RFC 9293's diagram that step is drawn LISTEN → SYN-RECEIVED.
#
# ## What to remember
#
# * Opening takes **three segments**: SYN, SYN-ACK, ACK. SYN and FIN each use **one
#   sequence number**; an ACK number is always "the next byte I expect".
# * Closing takes a FIN and an ACK **per direction**; the side that closes first waits
#   **2 × MSL** in TIME-WAIT.
# * A segment to a port where nobody listens gets a RST; a RST is accepted only at the
#   **exact** sequence number, else challenged or ignored (RFC 5961).
#
# Try: change `seed` (other ISNs, the same story), or `msl`. Next, notebook 8: the
# sequence numbers as a 32-bit circle, and the receive window.
