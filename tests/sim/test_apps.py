"""The applications: in scenarios on the simulator, and the very same code on Linux."""

import json
import sys
import textwrap
from pathlib import Path

import pytest

from netstack.sim.run import simulate

ROOT = Path(__file__).resolve().parents[2]


def test_every_kind_of_application_reports_what_it_did():
    scenario = {
        "seed": 2, "duration": 12.0, "topology": {"kind": "p2p"},
        "links": {"path": {"rate": "20mbps", "delay": "10ms",
                           "queue": {"kind": "droptail", "packets": 100}}},
        "flows": [
            {"kind": "bulk", "src": "a", "dst": "b", "size": 1_000_000},
            {"kind": "fetch", "src": "b", "dst": "a", "response": 30_000, "interval": 1.0,
             "count": 3, "start": 1.0},
            {"kind": "onoff", "src": "a", "dst": "b", "on": 1.0, "off": 3.0, "start": 4.0},
            {"kind": "ping", "src": "a", "dst": "b", "interval": 0.5, "start": 8.0},
        ],
    }
    _, record = simulate(scenario)
    bulk, fetch, onoff, ping = record.flows
    assert bulk.app_bytes == 1_000_000 and len(bulk.completion_times) == 1
    assert 0.3 < bulk.completion_times[0] < 2.0  # 8 Mbit at 20 Mbit/s, plus slow start
    assert fetch.app_bytes == 90_000 and len(fetch.completion_times) == 3
    assert all(0.04 < t < 0.5 for t in fetch.completion_times)  # handshake + 30 kB, 20 ms RTT
    # on for 1 s of every 4 from t=4 until t=12: two bursts of at most 20 Mbit/s each, plus
    # what the 256 kB send buffer still held when each burst stopped
    assert 2e6 < onoff.app_bytes < 2 * (20e6 / 8 + 256 * 1024)
    rtts = [rtt for _, rtt in ping.rtt_samples]
    assert len(rtts) >= 7 and min(rtts) >= 0.020  # two 10 ms propagation delays at least


APPS_ON_LINUX = textwrap.dedent("""
    import asyncio, json, socket
    from netstack.sim import apps
    from netstack.sim.record import FlowRecord

    async def main():
        loop = asyncio.get_running_loop()
        bulk, fetched, done = FlowRecord("bulk", "bulk", "a", "b"), FlowRecord("f", "fetch", "a", "b"), []
        servers = [loop.create_task(apps.serve(socket.socket, 5001, apps.sink_handler(bulk, done.append))),
                   loop.create_task(apps.serve(socket.socket, 5002, apps.fetch_handler()))]
        await asyncio.sleep(0.1)
        await apps.bulk(socket.socket, ("192.0.2.1", 5001), size=2_000_000)
        await apps.fetch(socket.socket, ("192.0.2.1", 5002), fetched, response=50_000,
                         interval=0.05, count=2)
        while not done:
            await asyncio.sleep(0.01)
        for task in servers:
            task.cancel()
        await asyncio.gather(*servers, return_exceptions=True)
        print(json.dumps([bulk.app_bytes, fetched.app_bytes, len(fetched.completion_times)]))

    asyncio.run(main())
""")


@pytest.mark.root
def test_the_same_application_code_runs_on_linux_sockets(netns):
    netns.add_address("lo", "192.0.2.1/24")
    netns.link_up("lo")
    done = netns.run(["env", f"PYTHONPATH={ROOT}", sys.executable, "-c", APPS_ON_LINUX],
                     timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [2_000_000, 100_000, 2]
