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
# # 11. Bufferbloat: when a big buffer makes the network slow
#
# A router holds packets it cannot send yet in a **queue** (a buffer). Some buffering is
# needed to absorb bursts, and to keep the link busy while TCP halves its window. But a
# loss-based TCP sender (notebook 10) only slows down when a packet is *lost*: it keeps
# growing its window until the buffer overflows. So a long download keeps any drop-tail
# buffer **full**, and every other packet, a ping, a DNS query, the first packets of a web
# page, waits behind it. That extra waiting is called **bufferbloat**.
#
# We send one long TCP download, a ping every few milliseconds and a small web fetch every
# second through a 10 Mbit/s bottleneck, three times:
#
# 1. a drop-tail buffer of 20 packets (about one bandwidth-delay product here);
# 2. a drop-tail buffer of 100 packets (the "bloated" one);
# 3. the same 100 packets managed by **CoDel** (RFC 8289), an active queue management
#    (AQM) algorithm that drops packets when they have waited too long.
#
# It assumes notebook 10 (congestion windows, slow start, loss). Reading time: about 15
# minutes. Everything runs in virtual time with netstack's `netstack.sim` toolkit.

# %% tags=["parameters"]
seed = 1                  # every random choice (ISNs, ports) derives from this
rate_mbps = 10            # bottleneck rate, Mbit/s
one_way_delay_ms = 10     # propagation delay each way: base RTT is twice this
small_buffer = 20         # drop-tail buffer sizes to compare, in packets
big_buffer = 100
codel_target_ms = 5       # CoDel: the standing queueing delay it aims at (RFC 8289: 5 ms)
codel_interval_ms = 100   # CoDel: how long the delay may stay above target before a drop
cc = "cubic"              # the download's congestion control ("newreno" works too)
ping_interval = 0.05      # seconds between pings
fetch_bytes = 50_000      # size of each web fetch's response
fetch_interval = 0.5      # seconds between fetch starts (one at a time)
warmup = 1.5              # seconds: statistics ignore the download's first slow start
duration = 5.0            # simulated seconds per configuration

# %% [markdown]
# ## The experiment
#
# A "dumbbell": sender `s0` and receiver `r0` hang off two switches joined by the
# `bottleneck` link (`rate_mbps`, `one_way_delay_ms`, and the queue under test in each
# direction). Three flows share it:
#
# * `bulk`: `s0` sends to `r0` as fast as TCP allows, for the whole run;
# * `ping`: `s0` pings `r0` every `ping_interval`: each echo request queues behind the
#   bulk data, so its RTT shows the queueing delay;
# * `fetch`: `r0` asks `s0` for `fetch_bytes` bytes on a new TCP connection (like an
#   HTTP/1.0 page), every `fetch_interval`; the response crosses the same queue.
#
# The only thing that changes between runs is the bottleneck's queue.

# %%
import statistics

import matplotlib.pyplot as plt

from netstack import viz
from netstack.sim.run import simulate

queues = {
    f"drop-tail {small_buffer}": {"kind": "droptail", "packets": small_buffer},
    f"drop-tail {big_buffer}": {"kind": "droptail", "packets": big_buffer},
    f"CoDel ({big_buffer})": {"kind": "codel", "packets": big_buffer,
                              "target": f"{codel_target_ms}ms",
                              "interval": f"{codel_interval_ms}ms"},
}
SMALL, BIG, CODEL = queues


def scenario(queue):
    return {
        "name": "bufferbloat", "seed": seed, "duration": duration,
        "topology": {"kind": "dumbbell", "pairs": 1},
        "links": {"bottleneck": {"rate": f"{rate_mbps}mbps", "delay": f"{one_way_delay_ms}ms",
                                 "queue": queue}},
        "flows": [
            {"kind": "bulk", "name": "bulk", "src": "s0", "dst": "r0", "cc": cc},
            {"kind": "ping", "name": "ping", "src": "s0", "dst": "r0",
             "interval": ping_interval},
            # r0 is the client: the responses go s0 -> r0, through the busy queue
            {"kind": "fetch", "name": "fetch", "src": "r0", "dst": "s0",
             "response": fetch_bytes, "interval": fetch_interval, "start": warmup, "cc": cc},
        ],
    }


results = {}
for name, queue in queues.items():
    run, record = simulate(scenario(queue))
    flows = {f.name: f for f in record.flows}
    link = next(link for link in record.links if link.name == "bottleneck.up")
    results[name] = {"flows": flows, "link": link, "cwnd": run.probes[0].rows,
                     "mss": run.probes[0].conn.sender.mss}
    print(f"{name:14} queue drops {link.drops:4}, "
          f"{len(flows['ping'].rtt_samples)} ping replies, "
          f"{len(flows['fetch'].completion_times)} fetches")

# %% [markdown]
# ## Three time series per queue
#
# For each configuration (a column): the download's congestion window, the ping RTT, and
# how many packets wait in the bottleneck's queue (`s0 -> r0` direction).
#
# What to look at: with the big drop-tail buffer the window climbs far higher than the
# path needs, the queue sits near full and every ping waits behind it. The small buffer
# keeps the queue, and so the RTT, short. CoDel has the same 100 packets of room but does
# not let a queue *stand*: the window stays near what the path needs.
#
# The regular bumps every `fetch_interval` (after `warmup`) are the fetches: each new
# connection's slow start pushes a burst into the queue. In the first second, every
# configuration shows the download's first slow start overshooting (notebook 10); CoDel
# needs a few intervals to bring that burst down.

# %%
frame_bytes = 1500 + 14  # a full-size Ethernet frame: 1500-byte IP packet + 14-byte header
base_rtt = 2 * one_way_delay_ms / 1000
full_delay = {n: n * frame_bytes * 8 / (rate_mbps * 1e6) for n in (small_buffer, big_buffer)}

fig, axes = plt.subplots(3, len(queues), figsize=(13, 8), sharex=True, sharey="row")
for col, (name, r) in enumerate(results.items()):
    rows = r["cwnd"]
    axes[0, col].step([row[0] for row in rows], [row[1] / r["mss"] for row in rows],
                      where="post")
    axes[0, col].set_title(name)
    ping = r["flows"]["ping"].rtt_samples
    axes[1, col].plot([t for t, _ in ping], [rtt * 1e3 for _, rtt in ping], ".", markersize=3)
    axes[1, col].axhline(base_rtt * 1e3, color="grey", linestyle=":", label="base RTT")
    samples = r["link"].queue_samples
    axes[2, col].step([s[0] for s in samples], [s[2] for s in samples], where="post")
    axes[2, col].set_xlabel("time (s)")
axes[0, 0].set_ylabel("bulk cwnd (segments)")
axes[1, 0].set_ylabel("ping RTT (ms)")
axes[1, 0].legend()
axes[2, 0].set_ylabel("queue (packets)")
fig.tight_layout()
viz.save_figure(fig, "11-time-series")

# %% [markdown]
# ## 1. A full buffer is a delay: size / rate
#
# A packet that joins the back of a queue of `N` full-size frames waits until all of them
# have been sent: `N * 1514 bytes * 8 / rate`. For 100 frames at 10 Mbit/s that is
# 100 * 1514 * 8 / 10e6 = **121 ms**, six times the 20 ms the path itself takes. The 20-packet
# buffer can add at most 24 ms.
#
# The link records, for every packet it sent, how long the packet spent in the queue
# (its own serialization included). The largest of those is the full-buffer delay:

# %%
for name in (SMALL, BIG):
    n = queues[name]["packets"]
    waited = max(results[name]["link"].queue_delays)
    print(f"{name:14} longest wait in the queue {waited * 1e3:6.1f} ms; a full buffer: "
          f"{full_delay[n] * 1e3:6.1f} ms")
    assert 0.9 * full_delay[n] <= waited <= full_delay[n] + 0.002, (
        f"{name}: the longest queueing delay was {waited * 1e3:.1f} ms, "
        f"not about {full_delay[n] * 1e3:.1f} ms")

# %% [markdown]
# The pings feel it. Once the download has filled the buffer (after `warmup`), a ping's RTT
# is the base RTT plus the queue in front of it:

# %%
def after_warmup(samples):
    return [value for t, value in samples if t >= warmup]


ping_rtt = {name: after_warmup(r["flows"]["ping"].rtt_samples) for name, r in results.items()}
for name, rtts in ping_rtt.items():
    print(f"{name:14} ping RTT: min {min(rtts) * 1e3:6.1f}  median "
          f"{statistics.median(rtts) * 1e3:6.1f}  max {max(rtts) * 1e3:6.1f} ms")

big_max = max(ping_rtt[BIG])
assert big_max - base_rtt > 0.9 * full_delay[big_buffer], (
    f"the big buffer added only {(big_max - base_rtt) * 1e3:.1f} ms to the ping RTT")
assert max(ping_rtt[SMALL]) < base_rtt + full_delay[small_buffer] + 0.005, (
    "a ping waited longer than a full small buffer")
assert statistics.median(ping_rtt[SMALL]) < statistics.median(ping_rtt[BIG]) / 2, (
    "the small buffer did not keep the ping RTT well below the big buffer's")

# %% [markdown]
# ## 2. CoDel: a big buffer, but no standing queue
#
# CoDel (RFC 8289) timestamps each packet as it enters the queue and looks at how long it
# waited when it leaves (its *sojourn time*). As long as some packet in every
# `interval` (100 ms) leaves with less than `target` (5 ms) of waiting, it does nothing:
# bursts pass. When the sojourn time stays above `target` for a whole `interval`, it drops
# a packet, and then drops more and more often (interval / sqrt(count)) until the delay
# falls. TCP takes each drop as a congestion signal and shrinks its window, so the queue
# drains. The buffer is still there for bursts, but a download can no longer keep it full.
#
# So: with CoDel the queueing delay stays near `target`, while the link stays busy.

# %%
def utilization(link, start):
    sent = sum(size for t, size in link.delivered if t >= start)
    return sent * 8 / (rate_mbps * 1e6 * (duration - start))


def queue_delays_after(link, start):
    return [d for (t, _), d in zip(link.delivered, link.queue_delays, strict=True) if t >= start]


for name, r in results.items():
    delays = sorted(queue_delays_after(r["link"], warmup))
    r["qdelay_median"] = statistics.median(delays)
    r["utilization"] = utilization(r["link"], warmup)
    print(f"{name:14} queueing delay median {r['qdelay_median'] * 1e3:6.1f} ms, "
          f"95th percentile {delays[int(0.95 * len(delays))] * 1e3:6.1f} ms; "
          f"link busy {r['utilization']:.0%}")

codel = results[CODEL]
target = codel_target_ms / 1000
assert codel["qdelay_median"] < 2 * target, (
    f"CoDel's median queueing delay was {codel['qdelay_median'] * 1e3:.1f} ms, "
    f"not near its {codel_target_ms} ms target")
assert codel["qdelay_median"] < results[BIG]["qdelay_median"] / 5, (
    "CoDel did not keep the queue much shorter than the same drop-tail buffer")
assert codel["utilization"] > 0.9, f"CoDel left the link idle: {codel['utilization']:.0%} busy"
assert codel["link"].drops > 0, "CoDel never dropped a packet"

# %% [markdown]
# ## 3. What a user notices: web fetches
#
# Each fetch opens a new TCP connection, sends a request and reads `fetch_bytes` bytes. That
# takes a handshake plus a few round trips of slow start, and every one of those round
# trips includes the queue. With a bloated buffer, a small page takes several times longer
# than it should, although the link is no faster or slower.

# %%
fetch_times = {name: r["flows"]["fetch"].completion_times for name, r in results.items()}
for name, times in fetch_times.items():
    print(f"{name:14} fetch times (s):", [f"{t:.3f}" for t in times])
    assert times, f"{name}: no fetch completed"

median_fetch = {name: statistics.median(times) for name, times in fetch_times.items()}
assert median_fetch[CODEL] < median_fetch[BIG], (
    f"fetches were not faster with CoDel ({median_fetch[CODEL]:.3f} s) than with the "
    f"{big_buffer}-packet drop-tail buffer ({median_fetch[BIG]:.3f} s)")

fig, ax = plt.subplots(figsize=(7, 3.5))
for i, (name, times) in enumerate(fetch_times.items()):
    ax.bar(i, median_fetch[name], color="lightgrey", edgecolor="black")
    ax.plot([i] * len(times), times, "o", color="tab:blue")
ax.set_xticks(range(len(fetch_times)), list(fetch_times))
ax.set_ylabel("fetch time (s)")
ax.set_title(f"{fetch_bytes // 1000} kB fetches during a download "
             "(bars: median, dots: each fetch)")
fig.tight_layout()
viz.save_figure(fig, "11-fetch-times")

# %% [markdown]
# The download got about the same throughput in all three runs; what changed is how long
# everything else had to wait. That is why buffers in routers and home gateways should be
# sized for delay, not packets, and why modern systems (Linux's `fq_codel`, DOCSIS 3.1 PIE)
# manage their queues instead of simply making them bigger.
#
# **Try it**: `cc = "newreno"`; a bigger `big_buffer` (the RTT grows with it, the throughput
# does not); `codel_target_ms = 20`; or a longer path (`one_way_delay_ms = 40`), where a
# 20-packet buffer is smaller than the bandwidth-delay product and starts to cost
# throughput.
