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
# # 5. ping: RTT and loss statistics
#
# `ping` sends an ICMP echo request every second and times the echo reply. Its summary
# ("3% packet loss, rtt min/avg/max") hides most of what the path is doing. Here we run
# **an hour of pings** (3600 of them) over an emulated path with a fixed delay, random
# jitter, and *bursty* loss, and read the raw samples: the distribution of round-trip times,
# whether consecutive RTTs are related, and whether losses come alone or in bursts.
#
# The hour is virtual: `netstack.sim` runs two real netstack hosts on an emulated link and
# jumps from event to event, so the hour takes well under a second of real time, and the
# same seed gives the same hour every time.
#
# Assumes notebook 3 (ICMP echo). About 15 minutes.

# %% tags=["parameters"]
seed = 1            # every random choice in the notebook derives from this
pings = 3600        # echo requests sent (one hour at one per second)
interval = 1.0      # seconds between requests
delay = 0.020       # one-way propagation delay, seconds, each direction
jitter = 0.010      # extra one-way delay, uniform in [0, jitter), each direction
p_gb = 0.02         # Gilbert-Elliott: chance per packet to go from the good to the bad state
p_bg = 0.25         # ... and from bad back to good (mean bad spell: 1/p_bg packets)
loss_good = 0.0     # loss probability in the good state
loss_bad = 1.0      # loss probability in the bad state
max_lag = 20        # autocorrelation lags to show

# %% [markdown]
# ## The path, as a scenario
#
# A scenario is a dict (or TOML file) that `netstack.sim` checks and runs (see
# `docs/EXPERIMENTS.md`). Two hosts, `a` and `b`, share one link `path`. Both directions get
# the delay and the jitter; only the `a -> b` direction ("up") loses packets, with the
# **Gilbert-Elliott** model: the link is either *good* or *bad*, and before each packet it may
# switch state (good to bad with probability `p_gb`, bad to good with `p_bg`). Losses then
# cluster in the bad spells, as on a radio link during a fade, or on a path whose queue
# overflows now and then. The `ping` flow sends an echo request from `a` every `interval`.
#
# For comparison we also run the same path with **independent** (IID) losses at the very
# same average rate.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from netstack import viz
from netstack.sim.run import simulate
from netstack.stack import StackConfig

pi_bad = p_gb / (p_gb + p_bg)                      # stationary share of the bad state
loss_rate = pi_bad * loss_bad + (1 - pi_bad) * loss_good  # long-run loss probability


def ping_scenario(loss):
    return {
        "name": "ping-an-hour", "seed": seed, "topology": {"kind": "p2p"},
        # the last request leaves at (pings-1)*interval; half an interval more for its reply
        "duration": (pings - 0.5) * interval,
        "links": {"path": {"delay": delay, "jitter": jitter, "up": {"loss": loss}}},
        "flows": [{"kind": "ping", "src": "a", "dst": "b", "interval": interval}],
        "probes": {"tcp_info": False, "queues": False},
    }


def run_pings(loss):
    """RTT of each request (NaN if it got no reply) and whether it was lost."""
    _, record = simulate(ping_scenario(loss))
    flow = record.flows[0]
    rtt = np.full(pings, np.nan)
    for sent_at, seconds in flow.rtt_samples:  # requests leave at exact multiples of interval
        rtt[round(sent_at / interval)] = seconds
    return rtt, np.isnan(rtt), flow


gilbert = {"gilbert": {"p_gb": p_gb, "p_bg": p_bg, "loss_good": loss_good, "loss_bad": loss_bad}}
rtt, lost, flow = run_pings(gilbert)
rtt_iid, lost_iid, _ = run_pings(loss_rate)
print(f"Gilbert-Elliott: {flow.frames_sent} sent, {lost.sum()} lost ({lost.mean():.2%}); "
      f"stationary loss rate {loss_rate:.2%}")
print(f"IID:             {pings} sent, {lost_iid.sum()} lost ({lost_iid.mean():.2%})")
print(f"RTT min/avg/max: {np.nanmin(rtt)*1e3:.1f} / {np.nanmean(rtt)*1e3:.1f} / "
      f"{np.nanmax(rtt)*1e3:.1f} ms")

# %% [markdown]
# ## Round-trip times
#
# Each RTT is the delay out plus the delay back, plus two independent jitters, so it can
# never be less than `2 * delay`, and on an idle path it should be at most
# `2 * (delay + jitter)`. The sum of two uniform jitters has a **triangular** distribution,
# from `2*delay` to `2*(delay+jitter)`, peaking in the middle.
#
# A few pings are slower: look at the series below. About once a minute one RTT is roughly
# doubled. That is not the network: netstack forgets a neighbour's MAC address
# `arp_reachable_time` (60 s) after it last learned it, and the next packet waits for a new
# ARP request and reply before it leaves, on each host. And when the ARP exchange itself
# falls into a loss burst, the request waits a whole ARP retry (1 s), and a few requests
# queue up behind it. The very first ping pays for ARP too.

# %%
got = ~lost
bound = 2 * (delay + jitter)
slow = got & (rtt > bound)              # delayed by something other than the path
normal = got & ~slow
slow_at = np.flatnonzero(slow)
episodes = slow_at[np.insert(np.diff(slow_at) > 3, 0, True)]  # first slow ping of each cluster
period = float(np.median(np.diff(episodes))) * interval if len(episodes) > 1 else math.nan
arp_time = StackConfig.__dataclass_fields__["arp_reachable_time"].default
print(f"{normal.sum()} RTTs within [{2*delay*1e3:.0f}, {bound*1e3:.0f}] ms, {slow.sum()} slower, "
      f"in {len(episodes)} episodes, typically {period:.0f} s apart (ARP entries live {arp_time:g} s)")

assert np.nanmin(rtt) >= 2 * delay, f"an RTT of {np.nanmin(rtt)} s beats the speed of light"
assert normal.sum() >= 0.97 * got.sum(), f"only {normal.sum()} of {got.sum()} RTTs on the path's bounds"
if pings * interval > 3 * arp_time:  # (a short run has too few refreshes to tell)
    assert arp_time <= period <= arp_time + 3 * interval, \
        f"slow pings recur every {period} s, not with the ARP cache lifetime {arp_time} s"
assert slow[0] or lost[0], "the first ping should wait for ARP"

# %% [markdown]
# The normal RTTs against the triangle. We measure the largest gap between the two
# cumulative distributions (the Kolmogorov-Smirnov distance); for `n` independent samples
# from the right distribution it exceeds `2/sqrt(n)` in fewer than one run in ten thousand.

# %%
x = np.sort(rtt[normal])
empirical = np.arange(1, len(x) + 1) / len(x)


def triangle_cdf(r):
    u = np.clip((r - 2 * delay) / jitter, 0, 2)   # sum of two U(0,1) jitters, in jitter units
    return np.where(u <= 1, u**2 / 2, 1 - (2 - u) ** 2 / 2)


ks = float(np.max(np.abs(empirical - triangle_cdf(x))))
print(f"KS distance {ks:.4f} (threshold {2 / math.sqrt(len(x)):.4f})")
assert ks < 2 / math.sqrt(len(x)), f"RTTs do not follow delay + two uniform jitters (KS {ks:.3f})"

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.5), width_ratios=(2, 1))
t = np.arange(pings) * interval / 60
ax1.plot(t[got], rtt[got] * 1e3, ".", ms=2)
ax1.plot(t[lost], np.full(lost.sum(), 2 * delay * 1e3 * 0.9), "|", color="tab:red", ms=6,
         label="lost")
ax1.set_yscale("log")
ax1.set_xlabel("time (minutes, virtual)")
ax1.set_ylabel("RTT (ms)")
ax1.set_title("An hour of pings")
ax1.legend(loc="upper right")
ax2.step(x * 1e3, empirical, where="post", label="measured")
grid = np.linspace(2 * delay, bound, 100)
ax2.plot(grid * 1e3, triangle_cdf(grid), "--", label="2*delay + U + U")
ax2.set_xlabel("RTT (ms)")
ax2.set_ylabel("fraction of pings")
ax2.set_title("RTT CDF (normal pings)")
ax2.legend()
fig.tight_layout()
viz.save_figure(fig, "05-rtt")

# %% [markdown]
# ## Is the next RTT predictable from this one?
#
# Plot each RTT against the next. Here the only variation is jitter drawn afresh for each
# packet, so the cloud has no direction: knowing one RTT tells you nothing about the next
# (correlation near 0). On a path with a queue that fills and drains, points would line up
# along the diagonal instead, since a full queue stays full for a while; a later notebook
# shows that. (The few slow ARP pings are left out.)

# %%
pairs = normal[:-1] & normal[1:]
now_rtt, next_rtt = rtt[:-1][pairs], rtt[1:][pairs]
corr = float(np.corrcoef(now_rtt, next_rtt)[0, 1])
print(f"{pairs.sum()} consecutive pairs, correlation {corr:+.3f}")
assert abs(corr) < 5 / math.sqrt(pairs.sum()), f"consecutive RTTs are correlated ({corr:.3f})"

fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.plot(now_rtt * 1e3, next_rtt * 1e3, ".", ms=2, alpha=0.5)
ax.set_xlabel("RTT of ping n (ms)")
ax.set_ylabel("RTT of ping n+1 (ms)")
ax.set_title(f"Consecutive RTTs: correlation {corr:+.2f}")
ax.set_aspect("equal")
viz.save_figure(fig, "05-rtt-scatter")

# %% [markdown]
# ## How many are lost?
#
# In the long run the Gilbert-Elliott link spends a share `p_gb / (p_gb + p_bg)` of packets
# in the bad state, so it loses `loss_rate` of them. But bursty losses make an hour's count
# much noisier than independent ones would: a few extra bad spells shift it a lot. The
# standard error of the mean of a correlated series is larger by about
# `(1 + λ) / (1 - λ)` in variance, where `λ = 1 - p_gb - p_bg` is how much of the state
# survives from one packet to the next; we allow five of those standard errors.

# %%
lam = 1 - p_gb - p_bg
spread = (loss_bad - loss_good) ** 2 * pi_bad * (1 - pi_bad)  # variance explained by the state
variance = loss_rate * (1 - loss_rate) + 2 * spread * lam / (1 - lam)
stderr = math.sqrt(variance / pings)
stderr_iid = math.sqrt(loss_rate * (1 - loss_rate) / pings)
print(f"Gilbert-Elliott {lost.mean():.4f}, IID {lost_iid.mean():.4f}, theory {loss_rate:.4f} "
      f"(standard error {stderr:.4f} bursty, {stderr_iid:.4f} IID)")
assert abs(lost.mean() - loss_rate) < 5 * stderr, f"loss {lost.mean():.3f} vs {loss_rate:.3f}"
assert abs(lost_iid.mean() - loss_rate) < 5 * stderr_iid, f"IID loss {lost_iid.mean():.3f}"
assert flow.frames_lost == lost.sum(), "the ping app and our count disagree on losses"

# %% [markdown]
# ## Do losses come in bursts?
#
# Write the run as a series of 0 (answered) and 1 (lost) and ask how much the series at
# ping `n` tells about ping `n + k`: the **autocorrelation at lag k**. For IID losses it is
# zero at every lag (within noise, about `1/sqrt(pings)`). For the Gilbert-Elliott link it
# starts high and decays as `λ^k` (scaled by how much of the loss the state explains), the
# memory of the two-state chain. The run lengths say the same thing: an IID loss is almost
# always alone; a bad spell lasts `1/p_bg` packets on average.

# %%
def autocorrelation(series, lags):
    s = series.astype(float) - series.mean()
    return np.array([np.dot(s[:-k], s[k:]) / np.dot(s, s) for k in lags])


def bursts(series):
    """Lengths of the runs of consecutive losses."""
    edges = np.diff(np.concatenate(([0], series.astype(int), [0])))
    return np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)


lags = np.arange(1, max_lag + 1)
acf, acf_iid = autocorrelation(lost, lags), autocorrelation(lost_iid, lags)
theory = spread / (loss_rate * (1 - loss_rate)) * lam**lags
runs, runs_iid = bursts(lost), bursts(lost_iid)
print(f"lag-1 autocorrelation: Gilbert-Elliott {acf[0]:+.3f} (theory {theory[0]:+.3f}), "
      f"IID {acf_iid[0]:+.3f}")
print(f"mean burst: Gilbert-Elliott {runs.mean():.2f} losses ({len(runs)} bursts, longest "
      f"{runs.max()}), IID {runs_iid.mean():.2f} ({len(runs_iid)} bursts, longest {runs_iid.max()})")
noise = 5 / math.sqrt(pings)
assert acf[0] > max(theory[0] / 2, noise), f"bursty losses should correlate at lag 1 ({acf[0]:.3f})"
assert abs(acf_iid[0]) < noise, f"IID losses correlate at lag 1 ({acf_iid[0]:.3f})"
assert np.all(np.abs(acf_iid) < noise), "IID losses correlate at some lag"
assert acf[0] > acf[max_lag - 1], "the correlation of bursty losses should fade with the lag"
assert runs.mean() > 2 * runs_iid.mean(), "bursts should be longer than IID runs"

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.bar(lags - 0.2, acf, width=0.4, label="Gilbert-Elliott, measured")
ax.bar(lags + 0.2, acf_iid, width=0.4, label="IID, measured")
ax.plot(lags, theory, "k--", label="Gilbert-Elliott, theory")
ax.axhspan(-noise / 5 * 2, noise / 5 * 2, color="grey", alpha=0.2, label="±2/sqrt(n)")
ax.set_xlabel("lag k (pings)")
ax.set_ylabel("autocorrelation of loss")
ax.set_title(f"Losses at the same average rate ({loss_rate:.1%}): bursty vs independent")
ax.legend()
viz.save_figure(fig, "05-loss-autocorrelation")

# %% [markdown]
# ## What to take away
#
# - The minimum RTT is the path's propagation delay, there and back; jitter spreads the
#   rest, and here the spread has the shape the model predicts.
# - Outliers are not always the network: an ARP cache refresh delays one ping a minute.
# - The loss *rate* does not say how losses are spread: at the same average an IID path and a
#   bursty one look alike in ping's summary, but the bursty one loses several in a row
#   (what a video call or TCP's fast retransmit feels), and an hour's rate is less precise.
#
# Try: `p_bg = 0.5` (shorter bursts), `loss_good = 0.01`, `jitter = 0.05`, or `seed = 2`.
