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
# # 10. Congestion control: NewReno and CUBIC side by side
#
# A TCP sender may not send more than its **congestion window** (`cwnd`) of unacknowledged
# bytes. Nobody tells it how big that window may be: it has to guess from what the network
# does to its packets. In this notebook we run two real netstack senders, one with
# **NewReno** (RFC 5681 + RFC 6582) and one with **CUBIC** (RFC 9438), over the very same
# emulated path, and watch their windows move through the four phases every loss-based
# algorithm has:
#
# 1. **slow start**: the window doubles every round trip;
# 2. **congestion avoidance**: it grows slowly (NewReno: one segment per round trip);
# 3. **fast recovery**: after a loss detected by duplicate ACKs / SACK, the window is cut
#    (NewReno keeps 1/2, CUBIC keeps 0.7);
# 4. **retransmission timeout (RTO)**: when ACKs stop coming at all, the window
#    collapses to a single segment and slow start begins again.
#
# It assumes you know what a TCP segment, an ACK and a round-trip time (RTT) are
# (notebooks 7 to 9). Reading time: about 20 minutes.
#
# Everything runs in **virtual time** on netstack's experiment toolkit (`netstack.sim`): 8
# simulated seconds take well under a second, and the same seed gives the same result,
# byte for byte.

# %% tags=["parameters"]
seed = 1                 # every random choice (ISNs, ports, link randomness) derives from this
rate_mbps = 10           # bottleneck rate, Mbit/s
one_way_delay_ms = 20    # propagation delay each way: the base RTT is twice this
queue_packets = 25       # drop-tail buffer at the bottleneck, in packets
loss = 0.0               # extra random loss on the data direction (e.g. 0.0005); crn makes
                         # both algorithms lose the same packet numbers
outage_at = 5.0          # the link goes dark at this time (seconds) ...
outage_length = 1.0      # ... for this long: long enough to force an RTO
duration = 8.0           # simulated seconds per run
algorithms = ("newreno", "cubic")

# %% [markdown]
# ## The experiment
#
# Two hosts, `a` and `b`, joined by one link (a "point-to-point" topology). The direction
# `a -> b` carries the data: it serializes at `rate_mbps`, has a drop-tail queue of
# `queue_packets` packets in front of it, and switches off completely for `outage_length`
# seconds at `outage_at` (an *on/off* rate: on for `outage_at` s, off for `outage_length`
# s). The way back carries only ACKs.
#
# A bulk flow (like `iperf`) sends from `a` to `b` as fast as TCP lets it. We run it once
# per algorithm with the **same seed** and `crn = true` ("common random numbers"): any random
# loss hits the same packet numbers in both runs, so the only difference between the runs
# is the algorithm.
#
# `simulate(scenario, before=...)` runs the scenario in memory. `before(run)` is called
# once the network is built but before anything runs: we use it to subscribe to the sending
# stack's **trace**, which reports every change of `cwnd` (with the reason), every RTT
# sample, every retransmission and every RTO.

# %%
import bisect
import statistics

import matplotlib.pyplot as plt

from netstack import viz
from netstack.sim.run import simulate
from netstack.trace import CwndChange, Retransmit, RtoFired, RttSample


def scenario(cc):
    return {
        "name": f"congestion-{cc}", "seed": seed, "duration": duration, "crn": True,
        "topology": {"kind": "p2p"},
        "links": {"path": {
            "delay": f"{one_way_delay_ms}ms",
            "up": {"rate": {"bps": f"{rate_mbps}mbps", "on": outage_at, "off": outage_length},
                   "queue": {"kind": "droptail", "packets": queue_packets}, "loss": loss},
            "down": {"rate": f"{rate_mbps}mbps"},
        }},
        "flows": [{"kind": "bulk", "name": "bulk", "src": "a", "dst": "b", "cc": cc}],
    }


def run_one(cc):
    events = []

    recorders = []

    def before(run):
        sender = run.net.hosts["a"].stack
        sender.trace.subscribe(events.append, kinds={"cwnd", "rtt", "retransmit", "rto"})
        recorders.append(viz.TcpInfoRecorder(sender))  # TCP_INFO after every change

    run, record = simulate(scenario(cc), before=before)
    return {"run": run, "record": record, "events": events, "tcp_info": recorders[0],
            "mss": run.probes[0].conn.sender.mss, "flow": record.flows[0]}


results = {cc: run_one(cc) for cc in algorithms}
for cc, r in results.items():
    kinds = [type(e).__name__ for e in r["events"]]
    print(f"{cc:8} MSS {r['mss']} bytes; trace events:",
          {k: kinds.count(k) for k in sorted(set(kinds))})

# %% [markdown]
# A few helpers turn the trace into what we want to look at: the window as a step function
# of time, and the moments the window was cut. A `CwndChange` event carries a `reason`:
# `ack` (growth), `fast_retransmit` (a loss detected by duplicate ACKs or SACK: recovery
# starts), `recovery`/`recovery_exit`, and `rto`.

# %%
UNBOUNDED = 1 << 30  # ssthresh before the first loss: "arbitrarily high" (RFC 5681 §3.1)


def cwnd_changes(r):
    return [e for e in r["events"] if isinstance(e, CwndChange)]


def cwnd_at(r, t):
    """The window in force at time t (the initial window before the first change)."""
    changes = r.setdefault("_changes", cwnd_changes(r))
    times = r.setdefault("_times", [e.time for e in changes])
    i = bisect.bisect_right(times, t) - 1
    return changes[i].cwnd if i >= 0 else 10 * r["mss"]


def cuts(r, reason):
    """(the CwndChange that cut the window, the window just before it) for each cut."""
    out, previous = [], None
    for e in cwnd_changes(r):
        if e.reason == reason:
            out.append((e, previous.cwnd if previous else 10 * r["mss"]))
        previous = e
    return out


for cc, r in results.items():
    for e, before_cut in cuts(r, "fast_retransmit") + cuts(r, "rto"):
        print(f"{cc:8} t={e.time:6.3f}s {e.reason:16} cwnd {before_cut // r['mss']:4} -> "
              f"{e.cwnd // r['mss']:3} segments, ssthresh {e.ssthresh // r['mss']} segments")

# %% [markdown]
# ## The picture
#
# One panel per algorithm: `cwnd` (solid) and `ssthresh` (dashed) in segments, with the
# fast retransmits (green) and RTOs (red) marked, and the outage shaded.
#
# What to look at:
# * the steep start: **slow start**, a doubling per RTT, overshoots the path (the queue
#   overflows) and ends with a cut;
# * NewReno's **sawtooth**: up by one segment per RTT, halved at each loss. The teeth bend
#   a little: as the queue fills, each RTT gets longer, so one segment per RTT is fewer
#   segments per second;
# * CUBIC's curve: cut to 70 %, then fast growth that flattens as it nears the window where
#   it last lost (W_max), then probes beyond it;
# * the **RTO** during the outage: the window drops to one segment, then slow start again
#   up to the new ssthresh.

# %%
fig, axes = plt.subplots(len(algorithms), 1, figsize=(10, 3.2 * len(algorithms)),
                         sharex=True, squeeze=False)
for ax, (cc, r) in zip(axes[:, 0], results.items(), strict=True):
    changes = cwnd_changes(r)
    mss = r["mss"]
    t = [e.time for e in changes]
    ax.step(t, [e.cwnd / mss for e in changes], where="post", label="cwnd")
    ax.step(t, [e.ssthresh / mss if e.ssthresh < UNBOUNDED else float("nan") for e in changes],
            where="post", linestyle="--", label="ssthresh")
    for e, _ in cuts(r, "fast_retransmit"):
        ax.axvline(e.time, color="tab:green", linewidth=0.8)
    for e in [e for e in r["events"] if isinstance(e, RtoFired)]:
        ax.axvline(e.time, color="tab:red", linewidth=1.2)
    ax.axvspan(outage_at, outage_at + outage_length, color="grey", alpha=0.2, label="outage")
    ax.set_title(f"{cc}: cwnd and ssthresh (green: fast retransmit, red: RTO)")
    ax.set_ylabel("segments")
    ax.legend(loc="upper right")
axes[-1, 0].set_xlabel("time (s)")
fig.tight_layout()
viz.save_figure(fig, "10-cwnd")

# %% [markdown]
# ## 1. Slow start: a doubling per round trip
#
# Below `ssthresh`, each ACK grows `cwnd` by the bytes it acknowledges (RFC 3465,
# "appropriate byte counting", at most two segments per ACK). A whole window is
# acknowledged per round trip, so the window **doubles each RTT**.
#
# To check it we use the RTT samples: a sample of `rtt` seconds taken at time `t` is a
# segment that was sent at `t - rtt`, under the window `cwnd(t - rtt)`, and whose ACK came
# back at `t`. One round trip later, the window is `cwnd(t)`. So during slow start
# `cwnd(t) / cwnd(t - rtt)` should be about 2.

# %%
def first_cut_time(r):
    return min(e.time for e in cwnd_changes(r) if e.reason != "ack")


growth = {}
for cc, r in results.items():
    end = first_cut_time(r)
    ratios = [cwnd_at(r, e.time) / cwnd_at(r, e.time - e.rtt)
              for e in r["events"] if isinstance(e, RttSample) and e.time < end]
    growth[cc] = statistics.median(ratios)
    print(f"{cc:8} slow start lasted until t={end:.3f}s; window growth per RTT: median "
          f"{growth[cc]:.2f} over {len(ratios)} RTT samples")
    assert 1.7 <= growth[cc] <= 2.3, f"{cc}: slow start grew cwnd {growth[cc]:.2f}x per RTT"

# %% [markdown]
# Slow start overshoots. The window keeps doubling until a loss is *noticed*, one RTT
# after the queue overflowed, by which time it is roughly twice what the path holds
# (bandwidth-delay product plus buffer):

# %%
bdp_packets = rate_mbps * 1e6 / 8 * (2 * one_way_delay_ms / 1000) / 1514
for cc, r in results.items():
    (first, peak), *_ = cuts(r, "fast_retransmit")
    print(f"{cc:8} window at the first loss: {peak // r['mss']} segments; the path holds "
          f"about {bdp_packets:.0f} (BDP) + {queue_packets} (buffer) = "
          f"{bdp_packets + queue_packets:.0f}")
    assert peak // r["mss"] > bdp_packets + queue_packets, (
        f"{cc}: slow start stopped at {peak // r['mss']} segments, before filling the path")

# %% [markdown]
# ## 2. Congestion avoidance: NewReno adds one segment per RTT
#
# Above `ssthresh`, NewReno grows by one MSS for every window's worth of acknowledged
# bytes (RFC 5681 §3.1): **+1 segment per RTT**, a straight line in the plot. We measure
# it with the same RTT-sample trick, keeping only the samples whose round trip lies
# entirely inside congestion avoidance (no cut in between, window at or above ssthresh).

# %%
def avoidance_growth(r):
    changes = cwnd_changes(r)
    cut_times = [e.time for e in changes if e.reason != "ack"]
    steps = []
    for e in r["events"]:
        if not isinstance(e, RttSample):
            continue
        t0, t1 = e.time - e.rtt, e.time
        if any(t0 <= c <= t1 for c in cut_times):
            continue
        i0 = bisect.bisect_right(r["_times"], t0) - 1
        if i0 < 0 or changes[i0].cwnd < changes[i0].ssthresh:
            continue  # still in slow start
        steps.append((cwnd_at(r, t1) - cwnd_at(r, t0)) / r["mss"])
    return steps


steps = avoidance_growth(results["newreno"])
per_rtt = statistics.mean(steps)
print(f"newreno: {len(steps)} RTT samples in congestion avoidance, "
      f"mean growth {per_rtt:.2f} segments per RTT")
assert len(steps) > 50, f"only {len(steps)} RTT samples in congestion avoidance"
assert 0.8 <= per_rtt <= 1.2, f"NewReno grew {per_rtt:.2f} segments per RTT in avoidance"

# %% [markdown]
# ## 3. Fast recovery: cut to 1/2 (NewReno) or to 0.7 (CUBIC)
#
# When three duplicate ACKs (or SACK blocks showing enough data above a hole) report a
# loss, the sender retransmits the missing segment at once and sets
#
# * NewReno: `ssthresh = max(FlightSize / 2, 2 * MSS)` (RFC 5681 §3.1, equation 4);
# * CUBIC: `ssthresh = FlightSize * 0.7` (RFC 9438 §4.6, `beta_cubic = 0.7`).
#
# `FlightSize` is what is in flight; for a sender that always has data, that is the window
# just before the cut. So the ratio `ssthresh / cwnd before` should be 0.5 and 0.7:

# %%
expected_beta = {"newreno": 0.5, "cubic": 0.7}
for cc, r in results.items():
    ratios = [e.ssthresh / before_cut for e, before_cut in cuts(r, "fast_retransmit")]
    print(f"{cc:8} ssthresh / cwnd at each fast retransmit:", [f"{x:.3f}" for x in ratios])
    assert ratios, f"{cc}: no fast retransmit happened"
    for x in ratios:
        assert abs(x - expected_beta[cc]) < 0.03, (
            f"{cc}: a fast retransmit set ssthresh to {x:.3f} of cwnd, "
            f"not {expected_beta[cc]}")

# %% [markdown]
# CUBIC keeps more of its window and then climbs back along a curve; NewReno climbs back
# one segment per RTT. Over the same time that shows as a larger average window for CUBIC
# in congestion avoidance (before the outage):

# %%
def mean_window(r, t0, t1, dt=0.01):
    n = int((t1 - t0) / dt)
    return sum(cwnd_at(r, t0 + i * dt) for i in range(n)) / n / r["mss"]


start = max(first_cut_time(r) for r in results.values()) + 0.5
mean_cwnd = {cc: mean_window(r, start, outage_at) for cc, r in results.items()}
print({cc: round(w, 1) for cc, w in mean_cwnd.items()}, "segments, averaged over",
      f"[{start:.2f}, {outage_at}] s")
assert mean_cwnd["cubic"] > mean_cwnd["newreno"], "CUBIC's window was not larger on average"

# %% [markdown]
# ## 4. The outage: a retransmission timeout, and a window of one segment
#
# During the outage no packet reaches `b` and no ACK comes back. Fast recovery needs
# duplicate ACKs, so it cannot help: only the **retransmission timer** (RFC 6298) fires.
# The sender then concludes the network is badly congested and starts over: `cwnd`
# becomes one segment (the "loss window", RFC 5681 §3.1), `ssthresh` is cut as for a
# fast retransmit, and slow start runs again. Each further expiry without an ACK doubles
# the timeout (exponential backoff).

# %%
for cc, r in results.items():
    rtos = [e for e in r["events"] if isinstance(e, RtoFired)]
    print(f"{cc:8} RTOs at", [f"{e.time:.3f}s (timeout {e.rto * 1e3:.0f} ms, "
                               f"backoff {e.backoff})" for e in rtos])
    assert rtos, f"{cc}: the outage caused no RTO"
    assert any(outage_at <= e.time <= outage_at + outage_length for e in rtos), (
        f"{cc}: no RTO fired during the outage")
    for e, _ in cuts(r, "rto"):
        assert e.cwnd == r["mss"], f"{cc}: after the RTO cwnd was {e.cwnd} bytes, not 1 MSS"
    for a, b in zip(rtos, rtos[1:], strict=False):
        if b.backoff == a.backoff + 1:
            assert abs(b.rto - 2 * a.rto) < 1e-9, f"{cc}: backoff did not double the RTO"
    retx = [e for e in r["events"] if isinstance(e, Retransmit) and e.reason == "rto"]
    assert len(retx) >= len(rtos), f"{cc}: an RTO fired without a retransmission"

# %% [markdown]
# After the outage the window starts from one segment and doubles again, up to the new
# `ssthresh`, then goes on in congestion avoidance. It takes several round trips to fill
# the path again: an RTO is expensive.

# %%
for cc, r in results.items():
    (e, _), *_ = cuts(r, "rto")
    later = [c for c in cwnd_changes(r) if c.time > outage_at + outage_length]
    reached = next((c.time for c in later if c.cwnd >= c.ssthresh), None)
    print(f"{cc:8} back at ssthresh ({e.ssthresh // r['mss']} segments) at "
          f"t={reached:.3f}s, {reached - outage_at - outage_length:.3f}s after the outage")
    assert reached is not None and reached < duration, f"{cc}: never left slow start again"

# %% [markdown]
# ## Throughput
#
# Finally, what the application got. The link offers `rate_mbps` except during the outage.
# We bin the data frames that reached `b` into 100 ms slots.

# %%
capacity_bits = rate_mbps * 1e6 * (duration - outage_length)
fig, ax = plt.subplots(figsize=(10, 3.2))
for cc, r in results.items():
    flow = r["flow"]
    bins = [0] * int(duration * 10)
    for t, size in flow.arrivals:
        bins[min(int(t * 10), len(bins) - 1)] += size
    ax.plot([i / 10 for i in range(len(bins))], [b * 8 * 10 / 1e6 for b in bins], label=cc)
    goodput = flow.app_bytes * 8 / duration
    r["goodput"] = goodput
    print(f"{cc:8} goodput {goodput / 1e6:.2f} Mbit/s = "
          f"{flow.app_bytes * 8 / capacity_bits:.0%} of what the link offered; "
          f"{flow.retransmits} retransmissions, {flow.rtos} RTOs")
    if loss == 0:  # with random loss on top, NewReno in particular may fall below this
        assert flow.app_bytes * 8 > 0.8 * capacity_bits, f"{cc}: the link was poorly used"
ax.axvspan(outage_at, outage_at + outage_length, color="grey", alpha=0.2, label="outage")
ax.set_xlabel("time (s)")
ax.set_ylabel("Mbit/s (100 ms bins)")
ax.set_title("throughput at the receiver")
ax.legend()
fig.tight_layout()
viz.save_figure(fig, "10-throughput")

# %% [markdown]
# Both use the link well: the buffer keeps it busy while the window is cut. What changes is
# the shape of the sawtooth, the time to refill after a cut, and how hard each one pushes
# the queue (see notebook 11 on what a full queue does to delay).
#
# **Try it**: set `loss = 0.001` (random loss, the same packet numbers for both algorithms:
# NewReno's goodput falls much more than CUBIC's), make the buffer tiny
# (`queue_packets = 5`), or lengthen the path (`one_way_delay_ms = 50`): CUBIC's advantage
# grows with the bandwidth-delay product. Changing `seed` alone changes nothing here: this
# path has no randomness unless `loss` is set.

# %% [markdown]
# ## The same runs, as a tool would see them: TCP_INFO
#
# Everything above came from trace events, which only code inside the stack can subscribe
# to. A program outside sees a connection through `getsockopt(TCP_INFO)` (Linux's `ss -ti`
# prints the same numbers). `viz.TcpInfoRecorder` took a TCP_INFO snapshot of the sender
# after every change, so we can plot what that view shows: the window and ssthresh in
# segments, the smoothed RTT (µs), and the running count of retransmitted segments.

# %%
fields = ("tcpi_snd_cwnd", "tcpi_snd_ssthresh", "tcpi_rtt", "tcpi_total_retrans")
fig, axes = plt.subplots(len(fields), len(results), figsize=(12, 8), sharex=True,
                         squeeze=False)
for column, (cc, r) in enumerate(results.items()):
    recorder = r["tcp_info"]
    samples = recorder.samples[recorder.connections[0]]
    rtos = [e.time for e in r["events"] if isinstance(e, RtoFired)]
    viz.tcp_info_series(samples, fields, axes=[row[column] for row in axes],
                        marks={"RTO": rtos})
    axes[0][column].set_title(f"{cc}: TCP_INFO of the sender")
    # The two views agree: TCP_INFO's window is the trace's, in whole segments...
    for change in cwnd_changes(r)[::50]:
        at_that_time = [info for t, info in samples if t == change.time][-1]
        assert at_that_time.tcpi_snd_cwnd == change.cwnd // r["mss"], (
            f"{cc}: TCP_INFO says cwnd {at_that_time.tcpi_snd_cwnd} at {change.time}")
    # ...and its retransmission count is the number of retransmit events.
    retransmits = sum(1 for e in r["events"] if isinstance(e, Retransmit))
    assert samples[-1][1].tcpi_total_retrans == retransmits, (
        f"{cc}: TCP_INFO counts {samples[-1][1].tcpi_total_retrans} retransmissions, "
        f"the trace {retransmits}")
fig.tight_layout()
viz.save_figure(fig, "10-tcp-info")
