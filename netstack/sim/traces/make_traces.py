"""Writes netstack's synthetic mahimahi traces: the same files, byte for byte, on every run.

    python netstack/sim/traces/make_traces.py [OUT_DIR]     (default: this folder)

A trace has one line per delivery opportunity: the time, in ms, at which the link may carry
one packet of up to 1500 bytes. The last line is the period after which mm-link (and
netstack) start the trace again. Every trace here is made up by the models below, from fixed
seeds; none is a recording, and none comes from mahimahi's own traces.

Only `random.Random(seed).random()` is used, whose sequence Python keeps the same across
versions, so the files never change unless this script does.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

OPPORTUNITY_BITS = 1500 * 8


def constant(mbps_per_line: int, period_ms: int) -> list[int]:
    """`mbps_per_line` opportunities every ms: 12 Mbit/s each."""
    return [ms for ms in range(1, period_ms + 1) for _ in range(mbps_per_line)]


def from_rates(rates_mbps: list[float]) -> list[int]:
    """Opportunities for a capacity given per ms (rates_mbps[i] for ms i + 1): the fraction
    of an opportunity a ms earns carries over to the next, so the rate is met on average."""
    schedule: list[int] = []
    credit = 0.0
    for ms, rate in enumerate(rates_mbps, 1):
        credit += rate * 1e6 / 1000.0 / OPPORTUNITY_BITS
        whole = int(credit)
        schedule.extend([ms] * whole)
        credit -= whole
    if not schedule or schedule[-1] != len(rates_mbps):
        schedule.append(len(rates_mbps))  # the last line is the period
    return schedule


def cellular(seed: int = 11, period_ms: int = 60_000) -> list[int]:
    """An LTE-like downlink: the capacity wanders (a random walk of its logarithm, every
    100 ms, kept between 1 and 30 Mbit/s), sometimes jumps (a handover, 1% of steps), and
    sometimes stops for 200-800 ms (an outage, 1.2% of steps)."""
    rng = random.Random(seed)
    low, high = math.log(1.0), math.log(30.0)
    level = math.log(8.0)
    rates: list[float] = []
    outage_left = 0
    while len(rates) < period_ms:
        u = rng.random()
        if outage_left == 0 and u < 0.012:
            outage_left = 200 + int(rng.random() * 600)
        elif u < 0.022:
            level = low + rng.random() * (high - low)
        else:
            level += (rng.random() - 0.5) * 0.6
            level = min(max(level, low), high)  # stay inside [1, 30] Mbit/s
        for _ in range(100):
            if outage_left:
                outage_left -= 1
                rates.append(0.0)
            else:
                rates.append(math.exp(level))
    return from_rates(rates[:period_ms])


def wifi(seed: int = 7, period_ms: int = 30_000) -> list[int]:
    """A contended Wi-Fi link: the access point sends bursts of frames (aggregates) at
    random gaps. The channel is clear (a burst of 1-16 frames every 4 ms on average) or
    contended (1-6 frames every 10 ms); it changes state with probability 5% (clear) or
    12% (contended) every 50 ms."""
    rng = random.Random(seed)
    schedule: list[int] = []
    clear = True
    next_switch_check = 50
    ms = 1
    while ms <= period_ms:
        burst = 1 + int(rng.random() * (16 if clear else 6))
        schedule.extend([ms] * burst)
        gap_mean = 4.0 if clear else 10.0
        ms += max(1, round(-gap_mean * math.log(1.0 - rng.random())))
        while ms >= next_switch_check:
            if rng.random() < (0.05 if clear else 0.12):
                clear = not clear
            next_switch_check += 50
    schedule = [t for t in schedule if t <= period_ms]
    if schedule[-1] != period_ms:
        schedule.append(period_ms)
    return schedule


TRACES = {
    "12mbps.trace": lambda: constant(1, 1000),
    "24mbps.trace": lambda: constant(2, 1000),
    "cellular-lte.trace": cellular,
    "wifi-bursty.trace": wifi,
}


def mean_rate_mbps(schedule: list[int]) -> float:
    return len(schedule) * OPPORTUNITY_BITS / (schedule[-1] / 1000.0) / 1e6


def write_all(out_dir: Path) -> dict[str, list[int]]:
    written = {}
    for name, make in TRACES.items():
        schedule = make()
        (out_dir / name).write_text("".join(f"{ms}\n" for ms in schedule), encoding="ascii")
        written[name] = schedule
    return written


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    for name, schedule in write_all(out_dir).items():
        print(f"{name}: {len(schedule)} opportunities over {schedule[-1] / 1000:g} s, "
              f"mean {mean_rate_mbps(schedule):.3f} Mbit/s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
