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
# # 6. UDP and demultiplexing
#
# IP brings a datagram to a host; UDP's port numbers bring it to one socket (RFC 768). When
# several sockets could take it, which one does? When none can, what does the sender hear?
# And when two threads read the same socket, who gets what?
#
# We use netstack's socket API (`netstack.api`, the same calls as Python's `socket`) on two
# simulated hosts, `a` (192.0.2.1) and `b` (192.0.2.2), joined by a link with a few
# milliseconds of delay, in virtual time. The last part runs two real threads on one socket.
#
# Assumes notebook 3 (ICMP). About 15 minutes.

# %% tags=["parameters"]
seed = 1            # every random choice (ephemeral ports, IP identifications) derives from it
delay = 0.005       # one-way delay of the link, seconds
gap = 0.020         # virtual seconds between the steps of the demultiplexing experiment
port = 5000         # the port b's sockets share
closed_port = 9999  # a port nobody listens on
datagrams = 300     # datagrams sent to the socket the two threads read
readers = 2         # threads reading that socket

# %% [markdown]
# ## Two hosts in virtual time
#
# `netstack.sim` gives each host a real netstack `Stack` and an `api.Host` to open sockets
# on. Our sockets are non-blocking: we send, let the simulator run for a while
# (`run_for`), then ask each socket whether something arrived. A tap on each host logs every
# frame with its virtual time, for the timeline at the end.

# %%
import errno
import os
import threading

import matplotlib.pyplot as plt

from netstack import api, viz
from netstack.sim.events import Simulator
from netstack.sim.link.spec import LinkSpec
from netstack.sim.topology import NetworkBuilder, point_to_point
from netstack.testing import decode
from netstack.wire import ipv4 as wire_ipv4
from netstack.wire import udp as wire_udp

sim = Simulator(seed=seed)
net = point_to_point(NetworkBuilder(sim), {"path": (LinkSpec(delay=delay), LinkSpec(delay=delay))})
net.start()
A, B = net.hosts["a"], net.hosts["b"]
A_IP, B_IP = str(A.address.ip), str(B.address.ip)
BROADCAST = str(B.address.network.broadcast_address)
frames = []  # (time, host, "in" | "out", frame bytes)
for name, node in (("a", A), ("b", B)):
    node.taps.append(lambda packet, out, name=name:
                     frames.append((sim.now, name, "out" if out else "in", packet.data)))


def run_for(seconds):
    sim.run_until(sim.now + seconds)


def udp_socket(host, bind=None, connect=None, reuse=False, broadcast=False):
    sock = host.host.socket(api.AF_INET, api.SOCK_DGRAM)
    sock.setblocking(False)
    if reuse:
        sock.setsockopt(api.SOL_SOCKET, api.SO_REUSEADDR, 1)
    if broadcast:
        sock.setsockopt(api.SOL_SOCKET, api.SO_BROADCAST, 1)
    if bind:
        sock.bind(bind)
    if connect:
        sock.connect(connect)
    return sock


def poll(sock):
    """What a non-blocking recvfrom gives now: data, 'nothing', or the error it raises."""
    try:
        return sock.recvfrom(2048)
    except BlockingIOError:
        return "nothing"
    except OSError as exc:
        return exc


# %% [markdown]
# ## Three sockets on one port
#
# Normally a second `bind` to a port in use fails with `EADDRINUSE`. With `SO_REUSEADDR`
# set on all of them, several sockets may share a port, and the stack must choose. netstack
# follows Linux (RFC 1122 §4.1.3.5 leaves the details to the host): a socket **connected**
# to the sender beats one that is not, a socket bound to the **exact** destination address
# beats one bound to the **wildcard** `0.0.0.0`, and among equals the last bound wins.
#
# On `b`, port 5000: `W` on the wildcard, `E` on 192.0.2.2, and `C` on 192.0.2.2 and
# connected to `a`'s port 6001. On `a`: `c1` on port 6001 and `c2` on port 6002.

# %%
W = udp_socket(B, bind=("0.0.0.0", port), reuse=True)
E = udp_socket(B, bind=(B_IP, port), reuse=True)
C = udp_socket(B, bind=(B_IP, port), reuse=True, connect=(A_IP, 6001))
c1 = udp_socket(A, bind=("0.0.0.0", 6001))
c2 = udp_socket(A, bind=("0.0.0.0", 6002), broadcast=True)
receivers = {"C (connected)": C, "E (exact)": E, "W (wildcard)": W}

try:
    udp_socket(B, bind=("0.0.0.0", port))  # without SO_REUSEADDR
    refused = None
except OSError as exc:
    refused = exc
print("a fourth bind without SO_REUSEADDR:", refused)
assert refused is not None and refused.errno == errno.EADDRINUSE, "a used port should give EADDRINUSE"

# %% [markdown]
# Now four datagrams, one every `gap` seconds. After each, we look at every socket of `b`.
# (The first one waits for ARP, notebook 2, before it leaves.)

# %%
steps = [  # (label, sending socket, destination)
    ("from 6001", c1, (B_IP, port)),
    ("from 6002", c2, (B_IP, port)),
    ("broadcast", c2, (BROADCAST, port)),
    ("E closed", c2, (B_IP, port)),
]
delivered = {}  # label -> the sockets that got it
for label, sender, destination in steps:
    if label == "E closed":
        E.close()
        del receivers["E (exact)"]
    sender.sendto(label.encode(), destination)
    run_for(gap)
    delivered[label] = []
    for name, sock in receivers.items():
        result = poll(sock)
        if isinstance(result, tuple):
            data, source = result
            assert data == label.encode(), f"{name} got {data!r} while we sent {label!r}"
            delivered[label].append(name)
    print(f"{label:10s} -> {destination[0]}:{destination[1]} went to {delivered[label]}")

# %% [markdown]
# Each fact below is the rule above applied once:
#
# - from `a`:6001, `C` wins: it is connected to exactly that sender;
# - from `a`:6002, `C` is out (connected to someone else), and `E`'s exact address beats `W`;
# - a broadcast to 192.0.2.255 is not addressed to 192.0.2.2, so only `W` (the wildcard)
#   matches (RFC 1122 §4.1.3.6);
# - once `E` is closed, `W` takes what `E` used to.

# %%
assert delivered["from 6001"] == ["C (connected)"], f"from 6001: {delivered['from 6001']}"
assert delivered["from 6002"] == ["E (exact)"], f"from 6002: {delivered['from 6002']}"
assert delivered["broadcast"] == ["W (wildcard)"], f"broadcast: {delivered['broadcast']}"
assert delivered["E closed"] == ["W (wildcard)"], f"after closing E: {delivered['E closed']}"
assert all(len(got) == 1 for got in delivered.values()), "a unicast went to two sockets"

# %% [markdown]
# ## Nobody home: ICMP port unreachable
#
# A datagram for a port with no socket is answered by an **ICMP destination unreachable,
# code 3 (port unreachable)** (RFC 1122 §4.1.3.1), quoting the offending IP header and the
# first 8 bytes after it, which are the whole UDP header: that is how the sender's stack
# knows which of its sockets it concerns.
#
# Only a **connected** socket hears about it: its next call fails with `ECONNREFUSED`,
# once. An unconnected socket may talk to many peers and would not know which one refused,
# so (as on Linux) the error is dropped for it. We try both: `c2` (unconnected) and a new
# socket `c3` connected to `b`:9999.

# %%
c3 = udp_socket(A, connect=(B_IP, closed_port))
c3_port = c3.getsockname()[1]
probes = {}
for label, sender in (("c2 unconnected", c2), ("c3 connected", c3)):
    start = sim.now
    if sender is c3:
        sender.send(b"anyone?")
    else:
        sender.sendto(b"anyone?", (B_IP, closed_port))
    run_for(gap)
    first, second = poll(sender), poll(sender)
    probes[label] = (start, first, second)
    print(f"{label}: recv -> {first!r}; again -> {second!r}")

icmp = [(t, host, way, frame) for t, host, way, frame in frames
        if decode(frame).get("icmp.type") == 3]
for t, host, way, frame in icmp:
    print(f"t={t * 1e3:6.1f} ms  {host} {way:3s}  ICMP type 3 code {decode(frame)['icmp.code']}")
sent_icmp = [frame for _, host, way, frame in icmp if host == "b" and way == "out"]

# %% [markdown]
# Checking: two port unreachables left `b` and reached `a` one `delay` later; the last one
# quotes a UDP header whose ports are `c3`'s; `c3` got `ECONNREFUSED` exactly once and `c2`
# nothing at all.

# %%
out_times = [t for t, host, way, _ in icmp if host == "b" and way == "out"]
in_times = [t for t, host, way, _ in icmp if host == "a" and way == "in"]
assert len(out_times) == len(in_times) == 2, f"{len(out_times)} ICMP errors sent, {len(in_times)} received"
assert all(abs(t_in - t_out - delay) < 1e-9 for t_out, t_in in zip(out_times, in_times, strict=True)), \
    "an ICMP error did not take one link delay"
assert B.stack.counters["udp.tx.port_unreachable"] == 2, "b should have counted 2 port unreachables"
assert all(decode(f)["icmp.code"] == 3 for f in sent_icmp), "code 3 is port unreachable"
quote = decode(sent_icmp[-1])["payload"]
ip_len = (quote[0] & 0x0F) * 4
src_port, dst_port = int.from_bytes(quote[ip_len:ip_len + 2], "big"), \
    int.from_bytes(quote[ip_len + 2:ip_len + 4], "big")
assert len(quote) >= ip_len + wire_udp.HEADER_LEN, "the quote holds the whole UDP header"
assert (src_port, dst_port) == (c3_port, closed_port), f"quoted ports {src_port} > {dst_port}"
_, first, second = probes["c3 connected"]
assert isinstance(first, ConnectionRefusedError), f"c3 should get ECONNREFUSED, got {first!r}"
assert second == "nothing", f"ECONNREFUSED is reported once; then {second!r}"
assert probes["c2 unconnected"][1:] == ("nothing", "nothing"), "an unconnected socket heard the error"

# %% [markdown]
# ## The timeline
#
# Every UDP datagram and ICMP error on one picture: a row per socket (on `a` at the top,
# on `b` below), an arrow from when a frame left to when it arrived, ending at the socket
# that received it (or at "no socket" on `b`'s stack). Red arrows are ICMP errors; the
# cross marks the `recv` that raised `ECONNREFUSED`.

# %%
rows = ["a: c1 :6001", "a: c2 :6002", f"a: c3 :{c3_port} (connected)", "b: C (connected)",
        "b: E (exact)", "b: W (wildcard)", "b: no socket"]
row = {name: i for i, name in enumerate(rows)}
sender_row = {6001: "a: c1 :6001", 6002: "a: c2 :6002", c3_port: rows[2]}
where_to = {label: "b: " + got[0] for label, got in delivered.items()}

udp_out = [(t, f) for t, host, way, f in frames if host == "a" and way == "out"
           and decode(f).get("ip.protocol") == wire_ipv4.PROTO_UDP]
udp_in = [t for t, host, way, f in frames if host == "b" and way == "in"
          and decode(f).get("ip.protocol") == wire_ipv4.PROTO_UDP]
fig, ax = plt.subplots(figsize=(10, 4.5))
for (t_out, frame), t_in in zip(udp_out, udp_in, strict=True):
    payload = decode(frame)["payload"]
    label = payload[wire_udp.HEADER_LEN:].decode()
    src = int.from_bytes(payload[0:2], "big")
    target = where_to.get(label, "b: no socket")
    ax.annotate("", xy=(t_in * 1e3, row[target]), xytext=(t_out * 1e3, row[sender_row[src]]),
                arrowprops={"arrowstyle": "->", "color": "tab:blue"})
    ax.text(t_out * 1e3, row[sender_row[src]] - 0.25, label, fontsize=8, color="tab:blue")
for t_out, t_in, who in zip(out_times, in_times, ("a: c2 :6002", rows[2]), strict=True):
    ax.annotate("", xy=(t_in * 1e3, row[who]), xytext=(t_out * 1e3, row["b: no socket"]),
                arrowprops={"arrowstyle": "->", "color": "tab:red"})
    ax.text(t_in * 1e3 + 0.5, row[who] + 0.3, "ICMP port unreachable", fontsize=8, color="tab:red")
refused_at = probes["c3 connected"][0] + gap
ax.plot(refused_at * 1e3, row[rows[2]], "x", color="tab:red", ms=10)
ax.text(refused_at * 1e3, row[rows[2]] - 0.3, " recv: ECONNREFUSED", fontsize=8, color="tab:red")
ax.set_yticks(range(len(rows)), rows)
ax.set_ylim(len(rows) - 0.5, -0.7)
ax.set_xlim(-2, sim.now * 1e3 + 15)  # arrows (annotations) do not stretch the axes by themselves
ax.set_xlabel("time (ms, virtual)")
ax.set_title("UDP datagrams (blue) and ICMP errors (red): which socket got what, when")
ax.grid(axis="x", alpha=0.3)
fig.tight_layout()
viz.save_figure(fig, "06-udp-timeline")

# %% [markdown]
# ## Two threads, one socket
#
# A socket is shared by everything that holds it: two threads calling `recvfrom` on the same
# UDP socket each take *different* datagrams from its one queue. No datagram goes to both,
# none is lost, but nothing says who gets which: that depends on which thread the operating
# system (here, Python) runs when a datagram arrives. This is how a simple server spreads
# work over threads; if the order of datagrams matters, the threads must coordinate.
#
# Threads need a stack that runs on its own, so here each host is a real `api.Host` whose
# engine runs on a background thread, joined by an in-memory cable (real time, not virtual;
# no root needed). Each reader stops when it reads `stop`; we send one `stop` per reader
# after the data, and **join** the threads (no sleeping and hoping).

# %%
cable = f"nb06-{os.getpid()}-{seed}"
host_a = api.Host.open(f"memory:{cable}", f"{A_IP}/24", pool_size=1024)
host_b = api.Host.open(f"memory:{cable}", f"{B_IP}/24", pool_size=1024)
try:
    server = host_b.socket(api.AF_INET, api.SOCK_DGRAM)
    server.settimeout(10.0)  # a safety net: a lost datagram fails the cell instead of hanging
    server.bind(("0.0.0.0", port))
    client = host_a.socket(api.AF_INET, api.SOCK_DGRAM)
    client.sendto(b"hello", (B_IP, port))  # resolves ARP before the flood
    assert server.recvfrom(100)[0] == b"hello", "the warm-up datagram did not arrive"

    got = {i: [] for i in range(readers)}
    failures = []

    def reader(i):
        try:
            while True:
                data, _ = server.recvfrom(100)
                if data == b"stop":
                    return
                got[i].append(int(data))
        except Exception as exc:  # noqa: BLE001 - reported by the main thread below
            failures.append((i, exc))

    threads = [threading.Thread(target=reader, args=(i,), name=f"reader-{i}") for i in range(readers)]
    for thread in threads:
        thread.start()
    for n in range(datagrams):
        client.sendto(b"%d" % n, (B_IP, port))
    for _ in threads:
        client.sendto(b"stop", (B_IP, port))
    for thread in threads:
        thread.join(timeout=30)
    alive = [thread.name for thread in threads if thread.is_alive()]
finally:
    host_a.close()
    host_b.close()

everything = sorted(n for numbers in got.values() for n in numbers)
for i, numbers in got.items():
    print(f"reader {i}: {len(numbers)} datagrams, first few {numbers[:8]}")
assert not alive and not failures, f"readers still running {alive} or failed {failures}"
assert everything == list(range(datagrams)), "each datagram must reach exactly one reader"
assert len(set(everything)) == len(everything), "a datagram was read twice"
assert all(numbers == sorted(numbers) for numbers in got.values()), \
    "each reader sees its share in the order sent (one FIFO queue)"

# %% [markdown]
# Who got which datagram, by datagram number: the split changes from run to run (try
# rerunning this cell), but the union is always every datagram exactly once, and each
# thread's share is in order.

# %%
fig, ax = plt.subplots(figsize=(10, 1.8 + 0.4 * readers))
for i, numbers in got.items():
    ax.plot(numbers, [i] * len(numbers), "|", ms=12, label=f"reader {i}: {len(numbers)}")
ax.set_yticks(range(readers), [f"reader {i}" for i in range(readers)])
ax.set_ylim(-0.5, readers - 0.5)
ax.set_xlabel("datagram number")
ax.set_title(f"{datagrams} datagrams, {readers} threads on one socket: each read by exactly one")
fig.tight_layout()
viz.save_figure(fig, "06-two-readers")

# %% [markdown]
# ## What to take away
#
# - A datagram goes to one socket: connected beats unconnected, exact address beats the
#   wildcard; broadcasts go to every wildcard listener instead.
# - A closed port answers with ICMP port unreachable; only a connected socket turns it into
#   `ECONNREFUSED`, once, on its next call.
# - Threads sharing a socket share its queue: each datagram is read once, by one of them.
#
# Try: bind `W` last and see whether the order of binds matters; set `delay = 0.05`.
