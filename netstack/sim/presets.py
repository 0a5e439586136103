"""Ready-made experiments. Each is a raw scenario (scenario.py); `netstack sim run NAME`
runs one, and `--set path=value` changes any field first.

    pantheon-12mbps   Pantheon's calibrated path: 12 Mbit/s both ways, 30 ms one-way
                      delay, a 45 kB drop-tail uplink queue; one CUBIC flow for 30 s
    bufferbloat       a 10 Mbit/s bottleneck, 4 ms minimum RTT, a 100-frame drop-tail buffer;
                      a long flow, with pings and web fetches that must cross its queue
    fairness-N        N NewReno flows (N = 2..16) sharing 20 Mbit/s, 40 ms RTT, 1-BDP buffer
    lossy-link        20 Mbit/s, 40 ms RTT, 1% random loss each way; one NewReno flow
    cellular          a varying-capacity trace both ways (any mahimahi trace:
                      --set links.path.rate.trace=FILE), 40 ms RTT, CoDel; one CUBIC flow
"""

from __future__ import annotations

import copy
import re

PANTHEON = {
    "name": "pantheon-12mbps",
    "description": "Pantheon's 12 Mbit/s calibrated path, one CUBIC flow",
    "duration": 30.0,
    "topology": {"kind": "p2p"},
    "mahimahi": ("mm-delay 30 mm-link 12mbps.trace 12mbps.trace "
                 "--uplink-queue=droptail --uplink-queue-args=bytes=45000"),
    "flows": [{"kind": "bulk", "src": "a", "dst": "b", "cc": "cubic"}],
}

BUFFERBLOAT = {
    "name": "bufferbloat",
    "description": "a long flow fills a 100-frame buffer; pings and fetches wait behind it",
    "duration": 20.0,
    "topology": {"kind": "dumbbell", "pairs": 1},
    "links": {
        "bottleneck": {"rate": "10mbps", "delay": "2ms",
                       "queue": {"kind": "droptail", "packets": 100}},
    },
    "flows": [
        {"kind": "bulk", "name": "bulk", "src": "s0", "dst": "r0", "cc": "cubic"},
        {"kind": "ping", "name": "ping", "src": "s0", "dst": "r0", "interval": "100ms"},
        # the fetch's client is r0, so its replies cross the bottleneck the bulk flow fills
        {"kind": "fetch", "name": "fetch", "src": "r0", "dst": "s0", "response": 50_000,
         "interval": "1s", "start": "1s"},
    ],
}

LOSSY = {
    "name": "lossy-link",
    "description": "1% random loss each way on a 20 Mbit/s, 40 ms RTT path",
    "duration": 20.0,
    "topology": {"kind": "p2p"},
    "links": {"path": {"rate": "20mbps", "delay": "20ms", "loss": 0.01,
                       "queue": {"kind": "droptail", "packets": 200}}},
    "flows": [{"kind": "bulk", "src": "a", "dst": "b", "cc": "newreno"}],
}

CELLULAR = {
    "name": "cellular",
    "description": "a time-varying cellular trace both ways, CoDel, one CUBIC flow",
    "duration": 30.0,
    "topology": {"kind": "p2p"},
    "links": {"path": {"rate": {"trace": "cellular-lte.trace"}, "delay": "20ms",
                       "queue": {"kind": "codel", "packets": 1000}}},
    "flows": [{"kind": "bulk", "src": "a", "dst": "b", "cc": "cubic"}],
}


def fairness(n: int) -> dict:
    """N flows over 20 Mbit/s with a 40 ms RTT and a buffer of one bandwidth-delay product
    (20e6 / 8 * 0.040 = 100 kB, about 66 frames)."""
    return {
        "name": f"fairness-{n}",
        "description": f"{n} NewReno flows share one bottleneck",
        "duration": 30.0,
        "topology": {"kind": "dumbbell", "pairs": n},
        "links": {
            "bottleneck": {"rate": "20mbps", "delay": "20ms",
                           "queue": {"kind": "droptail", "packets": 66}},
            },
        "flows": [{"kind": "bulk", "src": f"s{i}", "dst": f"r{i}", "cc": "newreno",
                   "start": round(0.1 * i, 3)} for i in range(n)],
    }


PRESETS = {"pantheon-12mbps": PANTHEON, "bufferbloat": BUFFERBLOAT, "fairness-N": None,
           "lossy-link": LOSSY, "cellular": CELLULAR}


def preset(name: str) -> dict | None:
    """A fresh copy of the preset called `name` (None if there is none)."""
    match = re.fullmatch(r"fairness-(\d+)", name)
    if match and 2 <= int(match.group(1)) <= 16:
        return fairness(int(match.group(1)))
    found = PRESETS.get(name)
    return copy.deepcopy(found) if found is not None else None
