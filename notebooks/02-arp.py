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
# # 2. ARP in slow motion
#
# To send an IPv4 datagram to a neighbour on the same Ethernet, a host needs the neighbour's
# **MAC address**: Ethernet delivers frames to MACs, not to IP addresses. ARP, the Address
# Resolution Protocol (RFC 826), finds it: "who has 192.0.2.2? tell 192.0.2.1" shouted to
# everyone (broadcast), and "192.0.2.2 is at 02:00:00:00:00:02" answered to the asker alone.
# The answer goes into the **ARP table** (the neighbour cache), for a while.
#
# We run one netstack stack in a *transcript harness*: we play its neighbours by feeding it
# frames, and read every frame it sends, on a virtual clock that only moves when we move it.
# You will see, one step at a time:
#
# 1. a datagram that has to wait while its next hop is resolved, and leaves with the answer;
# 2. the stack learning a neighbour from the neighbour's own question;
# 3. entries growing old and disappearing (`StackConfig.arp_reachable_time`);
# 4. a neighbour that never answers: retries, then giving up (`arp_retries`).
#
# It assumes notebook 1 (frames and headers). About 15 minutes to read.

# %% tags=["parameters"]
seed = 1                    # the stack's random seed: it draws the retry jitter
reachable_time = 5.0        # seconds an ARP entry lives (Linux uses 15-45 s; netstack 60 s)
retry_interval = 1.0        # seconds between requests for a silent next hop
retries = 3                 # requests sent before giving up
retry_jitter = 0.1          # up to this many seconds (seeded) added to each interval
answer_delay = 0.002        # how long our pretend neighbour takes to answer (seconds)
sample_every = 0.25         # seconds between snapshots of the ARP table (for the plot)

# %%
from ipaddress import IPv4Address

import matplotlib.pyplot as plt

from netstack import viz
from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.testing import Harness
from netstack.testing.frames import arp_frame, decode, describe_frame
from netstack.wire import arp as wire_arp
from netstack.wire.ethernet import BROADCAST, format_mac, parse_mac

US, PEER, HOST3, HOST4, GHOST = (IPv4Address(f"192.0.2.{n}") for n in (1, 2, 3, 4, 99))
US_MAC, PEER_MAC, HOST3_MAC, HOST4_MAC = (parse_mac(f"02:00:00:00:00:0{n}") for n in (1, 2, 3, 4))
NAMES = {str(US): "netstack", str(PEER): "peer .2", str(HOST3): "host .3",
         str(HOST4): "host .4", str(GHOST): "nobody .99"}

config = StackConfig(mac=US_MAC, address=f"{US}/24", random_seed=seed,
                     arp_reachable_time=reachable_time, arp_retry_interval=retry_interval,
                     arp_retries=retries, arp_retry_jitter=retry_jitter)
stack = Stack(config, MbufPool(256))
h = Harness(stack)

# %% [markdown]
# Two small tools. `step_to(t)` moves the clock to time `t`, stopping at every timer the
# stack has set on the way (so a retry fires at its exact time), and after every stop takes
# what the stack sent and a snapshot of the ARP table. A table snapshot says, for each
# neighbour, *resolving* (a request is out, datagrams may wait), *known* (an entry with a
# MAC) or nothing.

# %%
table_log = []          # (time, {ip: "resolving" | "known"})
sent = []               # (time, frame) of everything the stack sent


def snapshot():
    states = {}
    for ip in (PEER, HOST3, HOST4, GHOST):
        if stack.arp.pending_count(ip):
            states[ip] = "resolving"
        elif stack.arp.lookup(ip) is not None:
            states[ip] = "known"
    table_log.append((h.now, states))
    sent.extend((h.now, f) for f in h.drain())


def step_to(t):
    """Advance to time t, deadline by deadline (and every `sample_every` for the plot)."""
    while h.now < t:
        deadline = stack.next_deadline()
        grid = (int(h.now / sample_every + 1e-9) + 1) * sample_every
        target = min(t, grid, deadline if deadline is not None else t)
        h.advance(max(target - h.now, 0.0))
        if deadline is not None and deadline <= t and stack.next_deadline() == deadline:
            h.now = deadline                # floating-point rounding left us a hair short
            stack.advance(h.now)
        snapshot()


def new_frames(since):
    return [(t, f) for t, f in sent[since:]]


h.start()               # the stack announces itself: a gratuitous ARP
snapshot()
print(describe_frame(sent[0][1]))

# %% [markdown]
# ## 1. A datagram waits for its next hop
#
# The application pings the peer, 192.0.2.2. The IPv4 stage finds the route (the peer is
# on our subnet, so the next hop is the peer itself) and asks ARP for its MAC. The table is
# empty, so ARP **keeps the datagram** and broadcasts a request instead.

# %%
mark = len(sent)
h.call("ping 192.0.2.2", lambda s, now: s.icmp.send_echo(PEER, 7, 1, b"are you there?", now))
snapshot()
for t, f in new_frames(mark):
    print(f"t={t:.3f}  {describe_frame(f)}")
request = decode(sent[mark][1])
assert len(sent) - mark == 1, "only the ARP request left; the ping waits"
assert request["eth.dst"] == BROADCAST, "an ARP request is broadcast (everyone must hear it)"
assert request["arp.op"] == wire_arp.OP_REQUEST and request["arp.target_ip"] == PEER
assert (request["arp.sender_ip"], request["arp.sender_mac"]) == (US, US_MAC), \
    "the request says who is asking, so the answer can come back"
assert stack.arp.pending_count(PEER) == 1, "the echo request is queued inside ARP"

# %% [markdown]
# The peer answers after `answer_delay`. Its reply is **unicast**: it knows who asked (the
# sender fields of the request) so there is no need to bother anyone else. The moment the
# reply arrives, the stack stores the peer's MAC and sends the waiting datagram.

# %%
step_to(h.now + answer_delay)
mark = len(sent)
h.receive(arp_frame(wire_arp.OP_REPLY, PEER_MAC, PEER, US, target_mac=US_MAC))
reply_time = h.now
snapshot()
released = new_frames(mark)
for t, f in released:
    print(f"t={t:.3f}  {describe_frame(f)}")
entry = {e.ip: e for e in stack.arp.entries()}[PEER]
print(f"ARP table: {entry.ip} is at {format_mac(entry.mac)}, expires at t={entry.expires_at:.3f}")
assert decode(h.frames[-2][2])["eth.dst"] == US_MAC, "the ARP reply was unicast to us"
assert len(released) == 1 and released[0][0] == reply_time, \
    "the queued datagram left at the very instant the reply came in"
assert decode(released[0][1])["eth.dst"] == PEER_MAC, "...addressed to the MAC just learned"
assert decode(released[0][1])["icmp.type"] == 8, "...and it is our echo request"
assert entry.expires_at == reply_time + reachable_time, "the entry lives arp_reachable_time"

# %% [markdown]
# ## 2. Learning from a question
#
# At t = 1 s, host .3 wants to talk to *us* and asks for our MAC. RFC 826 has a nice
# shortcut: a request carries the asker's own address pair, and since the asker is about to
# talk to us, we will surely need its MAC too. So the stack **learns host .3 from its
# request**, then answers it (unicast, to the MAC it just learned).
#
# Host .4 then asks about somebody else (192.0.2.2). We are not the target: RFC 826 says to
# update an entry we already have for the asker, but not to create one. Our table must not
# fill up with every host that ever broadcast a question.

# %%
step_to(1.0)
mark = len(sent)
learned_before = stack.counters["arp.learned"]
h.receive(arp_frame(wire_arp.OP_REQUEST, HOST3_MAC, HOST3, US))
h.receive(arp_frame(wire_arp.OP_REQUEST, HOST4_MAC, HOST4, PEER))
host3_time = h.now
snapshot()
answers = new_frames(mark)
for t, f in answers:
    print(f"t={t:.3f}  {describe_frame(f)}")
answer = decode(answers[0][1])
assert stack.arp.lookup(HOST3) == HOST3_MAC, "host .3 was learned from its own request"
assert stack.counters["arp.learned"] == learned_before + 1, "one entry learned"
assert len(answers) == 1 and answer["arp.op"] == wire_arp.OP_REPLY, "one ARP reply, to .3"
assert answer["eth.dst"] == HOST3_MAC and answer["arp.target_ip"] == HOST3, "reply is unicast"
assert answer["arp.sender_mac"] == US_MAC, "the reply carries our MAC"
assert stack.arp.lookup(HOST4) is None, "a question for someone else teaches us nothing"

# %% [markdown]
# ## 3. Growing old
#
# A MAC can change (a card is replaced, an address moves to another machine), so entries
# are not kept forever: each lives `arp_reachable_time` seconds from when it was learned,
# then the stack forgets it. We let the clock run until both entries have expired.

# %%
peer_expiry = reply_time + reachable_time
host3_expiry = host3_time + reachable_time
step_to(host3_expiry + 0.5)
for t, states in table_log:
    if abs(t - peer_expiry) < 1e-9 or abs(t - host3_expiry) < 1e-9:
        print(f"t={t:.3f}  table {states}")
known_at = [(t, s) for t, s in table_log if s.get(PEER) == "known"]
assert max(t for t, _ in known_at) < peer_expiry, "the peer entry was known until it expired"
assert stack.arp.lookup(PEER) is None and stack.arp.lookup(HOST3) is None, \
    "after arp_reachable_time both entries are gone"
assert len(sent) == len(answers) + mark, "forgetting is silent: nothing was sent"

# %% [markdown]
# Forgetting costs something: the next datagram to the peer has to wait for a new
# resolution, exactly as the first one did.

# %%
mark = len(sent)
h.call("ping 192.0.2.2 again", lambda s, now: s.icmp.send_echo(PEER, 7, 2, b"again", now))
snapshot()
print(describe_frame(sent[mark][1]))
assert decode(sent[mark][1])["arp.op"] == wire_arp.OP_REQUEST, "a cache miss: a new request"
step_to(h.now + answer_delay)
h.receive(arp_frame(wire_arp.OP_REPLY, PEER_MAC, PEER, US, target_mac=US_MAC))
snapshot()
assert decode(sent[-1][1])["icmp.sequence"] == 2, "the second ping left with the answer"

# %% [markdown]
# ## 4. Nobody home
#
# Now we ping 192.0.2.99, an address nobody has. The stack sends a request, waits
# `arp_retry_interval` (plus a little random *jitter*, so that many hosts that lost the same
# neighbour do not all ask again in lock step), asks again, and after `arp_retries` requests
# without an answer it gives up: the waiting datagram is dropped and counted
# (`arp.drop.unresolved`), and the application is told the host is unreachable.

# %%
mark = len(sent)
start = h.now
h.call("ping 192.0.2.99", lambda s, now: s.icmp.send_echo(GHOST, 7, 3, b"hello?", now))
snapshot()
step_to(start + retries * (retry_interval + retry_jitter) + 1.0)
asks = [(t, decode(f)) for t, f in new_frames(mark)]
for t, f in asks:
    print(f"t={t:.3f}  ARP who-has {f['arp.target_ip']}")
gaps = [b[0] - a[0] for a, b in zip(asks, asks[1:], strict=False)]
gave_up = [t for t, s in table_log if t > start and GHOST not in s][0]
print("gaps between requests:", [f"{g:.3f}" for g in gaps], f" gave up at t={gave_up:.3f}")
print({k: v for k, v in stack.counters.snapshot().items() if k.startswith("arp.")})
assert len(asks) == retries, f"{len(asks)} requests, not arp_retries = {retries}"
assert all(f["eth.dst"] == BROADCAST and f["arp.target_ip"] == GHOST for _, f in asks)
assert all(retry_interval - 1e-9 <= g <= retry_interval + retry_jitter + 1e-9 for g in gaps), \
    "each retry waits the interval plus at most the jitter"
assert stack.counters["arp.resolution_failed"] == 1, "it gave up once"
assert stack.counters["arp.drop.unresolved"] == 1, "the waiting ping was dropped, counted"
assert stack.arp.pending_count() == 0, "nothing is left waiting"

# %% [markdown]
# ## The whole story as a ladder diagram
#
# One column per host, time flowing down; every arrow is a frame the harness fed in or saw
# sent (`harness.frames`). Broadcast requests are drawn dashed, to the host they ask about: host
# .4's question goes to "peer .2", and netstack overhears it only because it is broadcast.
# Follow the first datagram: it waits below the ARP request until the reply comes back.

# %%
def gratuitous(frame):
    fields = decode(frame)
    return "arp.op" in fields and fields["arp.sender_ip"] == fields["arp.target_ip"]


records = [(t, f) for t, _, f in h.frames if not gratuitous(f)]
messages = viz.messages_from_frames(records, names=NAMES)
fig, ax = plt.subplots(figsize=(12, 0.45 * len(messages) + 1.5))
viz.ladder(messages, endpoints=list(NAMES.values()), ax=ax, by="order",
           title="ARP: resolve, learn, forget, retry, give up")
viz.save_figure(fig, "02-arp-ladder")
assert len(messages) == len(h.frames) - 1, "every frame but the gratuitous ARP is drawn"

# %% [markdown]
# ## The ARP table over time
#
# Each row is a neighbour, each bar a period in which the stack was resolving it (orange)
# or had its MAC (blue); a triangle is an ARP request the stack broadcast. Look for: the
# peer's entries beginning right at a request (the orange before them lasts only
# `answer_delay`, too thin to see), entries ending exactly `reachable_time` after they
# began, host .4 never appearing, and .99's orange bar with a request at each retry.

# %%
colours = {"resolving": "#f0a04b", "known": "#4a90d9"}
rows = [PEER, HOST3, HOST4, GHOST]
fig, ax = plt.subplots(figsize=(11, 3))
for (t0, states), (t1, _) in zip(table_log, table_log[1:], strict=False):
    for row, ip in enumerate(rows):
        if ip in states and t1 > t0:
            ax.broken_barh([(t0, t1 - t0)], (row - 0.35, 0.7), color=colours[states[ip]])
for t, f in sent:
    fields = decode(f)
    if fields.get("arp.op") == wire_arp.OP_REQUEST and fields["arp.target_ip"] in rows:
        ax.plot([t], [rows.index(fields["arp.target_ip"])], marker="v", color="black")
ax.set_yticks(range(len(rows)), [NAMES[str(ip)] for ip in rows])
ax.set_xlabel("virtual time (s)")
ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()],
          labels=list(colours), loc="upper left", fontsize=8)
ax.set_title("ARP table entries (triangles: the ARP requests we sent)")
viz.save_figure(fig, "02-arp-table")

# %% [markdown]
# ## Try it
#
# * Set `retries = 1`: how long before the ping to .99 fails?
# * Set `answer_delay` larger than `retry_interval`: the stack asks twice before the peer's
#   answer arrives. Is the datagram sent twice?
# * Feed host .4's question *after* the stack already knows .4 (send it a request for us
#   first). Does the second question refresh the entry?
