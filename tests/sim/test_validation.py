"""The toolkit against theory: if these fail, either the stack or the emulation is wrong.

Each runs real netstack stacks in virtual time (a few seconds of wall time each) and checks
a result every networking course teaches: a buffer of one BDP keeps the link busy; Mathis
et al.'s square-root law; two identical flows share fairly; CUBIC's window follows its
cubic; a full drop-tail buffer adds buffer/rate to the RTT and CoDel takes it away."""

from __future__ import annotations

import math

import pytest

from netstack.sim.run import simulate
from netstack.sim.stats import percentile

MSS_1500 = 1448  # a 1500-byte MTU with TCP timestamps on: 1460 - 12 option bytes
FRAME = 1514  # bytes of a full-sized frame on the wire (Ethernet header included)


def p2p(rate: str, one_way: str, queue: dict, duration: float, flows: list[dict],
        loss: float = 0.0, seed: int = 1, **extra) -> dict:
    up = {"rate": rate, "delay": one_way, "queue": queue}
    if loss:
        up["loss"] = loss
    return {"seed": seed, "duration": duration, "topology": {"kind": "p2p"},
            "links": {"path": {"up": up, "down": {"rate": rate, "delay": one_way}}},
            "flows": flows, **extra}


def delivered_between(link, start: float, end: float) -> int:
    return sum(size for t, size in link.delivered if start <= t < end)


def test_newreno_with_a_one_bdp_buffer_keeps_the_link_busy():
    # 10 Mbit/s x 40 ms = 50 kB = 33 full frames of buffer
    scenario = p2p("10mbps", "20ms", {"kind": "droptail", "packets": 33}, 30.0,
                   [{"kind": "bulk", "src": "a", "dst": "b", "cc": "newreno"}])
    _, record = simulate(scenario)
    up = next(link for link in record.links if link.name == "path.up")
    start, end = 5.0, 30.0  # slow start is long over by 5 s
    utilization = delivered_between(up, start, end) * 8 / (10e6 * (end - start))
    assert up.drops > 0, "the flow never filled the buffer: not a test of congestion control"
    assert utilization >= 0.95


@pytest.mark.parametrize("p", [0.005, 0.01, 0.02])
def test_newreno_goodput_follows_the_mathis_square_root_law(p):
    rtt = 0.040
    scenario = p2p("50mbps", "20ms", {"kind": "droptail", "packets": 1000}, 60.0,
                   [{"kind": "bulk", "src": "a", "dst": "b", "cc": "newreno"}], loss=p)
    _, record = simulate(scenario)
    flow = record.flows[0]
    goodput = flow.app_bytes * 8 / 60.0
    mathis = MSS_1500 * 8 / rtt * math.sqrt(3 / (2 * p))
    assert 0.7 * mathis <= goodput <= 1.3 * mathis, (
        f"p={p}: goodput {goodput / 1e6:.2f} Mbit/s, Mathis {mathis / 1e6:.2f} Mbit/s")


def test_two_newreno_flows_with_the_same_rtt_share_fairly():
    scenario = {
        "seed": 3, "duration": 60.0, "topology": {"kind": "dumbbell", "pairs": 2},
        "links": {"bottleneck": {"rate": "10mbps", "delay": "20ms",
                                 "queue": {"kind": "droptail", "packets": 33}}},
        "flows": [{"kind": "bulk", "src": "s0", "dst": "r0", "cc": "newreno"},
                  {"kind": "bulk", "src": "s1", "dst": "r1", "cc": "newreno", "start": 2.0}],
    }
    _, record = simulate(scenario)
    goodputs = [flow.app_bytes for flow in record.flows]
    jain = sum(goodputs) ** 2 / (len(goodputs) * sum(g * g for g in goodputs))
    assert jain >= 0.95, f"goodputs {goodputs}"


def test_bufferbloat_adds_buffer_over_rate_to_the_rtt():
    # 10 Mbit/s, 4 ms minimum RTT, 100 frames of drop-tail buffer: a full buffer holds
    # 100 * 1514 * 8 / 10e6 = 121 ms, so pings see up to 4 + 121 = 125 ms.
    scenario = {
        "seed": 1, "duration": 20.0, "topology": {"kind": "dumbbell", "pairs": 1},
        "links": {"bottleneck": {"rate": "10mbps", "delay": "2ms",
                                 "queue": {"kind": "droptail", "packets": 100}}},
        "flows": [{"kind": "bulk", "src": "s0", "dst": "r0", "cc": "cubic"},
                  {"kind": "ping", "src": "s0", "dst": "r0", "interval": 0.05, "start": 1.0}],
    }
    _, record = simulate(scenario)
    ping = record.flows[1]
    rtts = [rtt for t, rtt in ping.rtt_samples if t > 5.0]
    expected = 0.004 + 100 * FRAME * 8 / 10e6
    assert abs(max(rtts) - expected) <= 0.10 * expected, f"max RTT {max(rtts) * 1e3:.1f} ms"
    assert min(rtts) < 0.5 * expected  # the queue drains after each loss: not a constant


def test_codel_keeps_the_standing_queue_near_its_target():
    scenario = {
        "seed": 1, "duration": 20.0, "topology": {"kind": "dumbbell", "pairs": 1},
        # CoDel's 100 ms interval assumes RTTs of tens of ms: at a 4 ms RTT a flow grows for
        # 25 RTTs between drops and the standing queue sits above target (RFC 8289 §4.3)
        "links": {"bottleneck": {"rate": "10mbps", "delay": "10ms",
                                 "queue": {"kind": "codel", "packets": 1000}}},
        "flows": [{"kind": "bulk", "src": "s0", "dst": "r0", "cc": "cubic"}],
    }
    _, record = simulate(scenario)
    up = next(link for link in record.links if link.name == "bottleneck.up")
    assert up.drops > 0, "CoDel never acted"
    p95 = percentile(up.queue_delays, 95)
    assert p95 <= 2 * 0.005, f"95th-percentile queueing delay {p95 * 1e3:.1f} ms"


def test_cubic_between_losses_follows_its_cubic_function():
    """RFC 9438 §4.2: W(t) = C (t - K)^3 + W_max, t from the start of the epoch, with
    K = cbrt((W_max - cwnd_epoch) / C) and §4.7's fast convergence. A long fat pipe
    (50 Mbit/s, 200 ms RTT, jumbo frames) keeps CUBIC out of its Reno-friendly region."""
    from netstack.stages.tcp.cubic import BETA_CUBIC, C
    from netstack.trace import CwndChange

    scenario = p2p("50mbps", "100ms", {"kind": "droptail", "packets": 20}, 25.0,
                   [{"kind": "bulk", "src": "a", "dst": "b", "cc": "cubic"}],
                   tcp={"sndbuf": 8 << 20, "rcvbuf": 8 << 20}, mtu=9000)
    events: list[CwndChange] = []

    def watch(run) -> None:
        run.net.hosts["a"].stack.trace.subscribe(events.append, kinds={"cwnd"})

    run, _ = simulate(scenario, before=watch)
    mss = run.probes[0].conn.sender.mss
    exits = [i for i, e in enumerate(events) if e.reason == "recovery_exit"]
    assert len(exits) >= 2, "fewer than two congestion events: no epoch to check"
    w_max_prev = None
    checked = 0
    for start in exits:
        loss = max(i for i in range(start) if events[i].reason == "fast_retransmit")
        before_loss = max((i for i in range(loss) if events[i].reason == "ack"), default=None)
        if before_loss is None:
            continue
        w = events[before_loss].cwnd / mss
        w_max = w * (1 + BETA_CUBIC) / 2 if w_max_prev is not None and w < w_max_prev else w
        w_max_prev = w_max
        epoch = events[start]
        cwnd_epoch = epoch.cwnd / mss
        k = ((w_max - cwnd_epoch) / C) ** (1 / 3)
        # the epoch lasts while cwnd only grows on ACKs (until the next congestion event)
        end = next((i for i in range(start + 1, len(events)) if events[i].reason != "ack"),
                   len(events))
        for e in events[start + 1:end]:
            t = e.time - epoch.time
            expected = C * (t - k) ** 3 + w_max
            assert abs(e.cwnd / mss - expected) <= 0.10 * expected, (
                f"epoch at {epoch.time:.2f} s, t={t:.2f}: cwnd {e.cwnd / mss:.1f}, "
                f"W_cubic {expected:.1f}")
            checked += 1
    assert checked > 100
