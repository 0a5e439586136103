"""asyncio on the simulator: virtual time, sockets as on Linux, and no silent hang."""

import asyncio

import pytest

from netstack.sim import apps
from netstack.sim.aio import SimEventLoop, SimulationStalled
from netstack.sim.events import Simulator
from netstack.sim.link.direction import LinkDirection
from netstack.sim.link.spec import LinkSpec
from netstack.sim.node import SimHost
from netstack.sim.record import FlowRecord


def wire(sim, delay=0.01):
    a = SimHost(sim, "a", "192.0.2.1/24", seed=1)
    b = SimHost(sim, "b", "192.0.2.2/24", seed=2)
    spec = LinkSpec(delay=delay)
    a.transmit = LinkDirection(sim, spec, "ab", b.receive).send
    b.transmit = LinkDirection(sim, spec, "ba", a.receive).send
    a.start()
    b.start()
    return a, b


def test_sleep_takes_virtual_time_only():
    sim = Simulator()
    loop = SimEventLoop(sim)

    async def main():
        await asyncio.sleep(3600)
        return loop.time()

    try:
        assert loop.run_until_complete(main()) == pytest.approx(3600.0)
    finally:
        loop.close()


def test_a_tcp_exchange_with_the_loops_socket_calls():
    sim = Simulator(seed=1)
    a, b = wire(sim, delay=0.01)
    loop = SimEventLoop(sim)
    record = FlowRecord("f", "bulk", "a", "b")
    finished = []

    async def main():
        server = loop.create_task(apps.serve(b.host.socket, 7000,
                                             apps.sink_handler(record, finished.append)))
        await apps.bulk(a.host.socket, ("192.0.2.2", 7000), size=200_000)
        while not finished:
            await asyncio.sleep(0.01)
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert record.app_bytes == 200_000
    assert finished[0] > 0.02  # at least the handshake's round trip: time is virtual


def test_waiting_forever_on_a_silent_network_is_an_error_not_a_hang():
    sim = Simulator(seed=1)
    a, _ = wire(sim)
    loop = SimEventLoop(sim)

    async def main():
        sock = a.host.socket(2, 2)  # AF_INET, SOCK_DGRAM
        sock.setblocking(False)
        sock.bind(("0.0.0.0", 9))
        await loop.sock_recv(sock, 100)

    try:
        with pytest.raises(SimulationStalled, match="stalled"):
            loop.run_until_complete(main())
    finally:
        loop.close()


def connected_pair(sim, loop):
    """A client socket on host a connected to an accepted one on b (port 7100)."""
    a, b = wire(sim)

    async def connect():
        listener = b.host.socket(2, 1)  # AF_INET, SOCK_STREAM
        listener.setblocking(False)
        listener.bind(("0.0.0.0", 7100))
        listener.listen(1)
        client = a.host.socket(2, 1)
        client.setblocking(False)
        accepting = loop.create_task(loop.sock_accept(listener))
        await loop.sock_connect(client, ("192.0.2.2", 7100))
        server, _ = await accepting
        server.setblocking(False)
        return client, server

    return loop.run_until_complete(connect())


def test_a_cancelled_recv_leaves_no_waiter_and_the_next_recv_gets_the_data():
    sim = Simulator(seed=1)
    loop = SimEventLoop(sim)
    try:
        client, server = connected_pair(sim, loop)

        async def main():
            waiting = loop.create_task(loop.sock_recv(server, 100))
            await asyncio.sleep(0.5)  # nothing was sent: it is still waiting
            assert not waiting.done()
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            assert waiting.cancelled()
            assert not loop._selector._recv_waits  # the cancelled wait left nothing behind
            await loop.sock_sendall(client, b"hello")
            return await loop.sock_recv(server, 100)

        assert loop.run_until_complete(main()) == b"hello"
    finally:
        loop.close()


def test_a_recv_waiting_on_a_socket_closed_meanwhile_raises():
    sim = Simulator(seed=1)
    loop = SimEventLoop(sim)
    try:
        client, server = connected_pair(sim, loop)

        async def main():
            waiting = loop.create_task(loop.sock_recv(server, 100))
            await asyncio.sleep(0.1)
            server.close()
            with pytest.raises(OSError):
                await waiting

        loop.run_until_complete(main())
    finally:
        loop.close()


def test_a_recv_and_a_send_on_one_socket_wait_together():
    """sock_recv hands its wait to the selector, while sock_sendall registers a writer for
    the same socket: both must be served."""
    sim = Simulator(seed=1)
    loop = SimEventLoop(sim)
    try:
        client, server = connected_pair(sim, loop)

        async def drain() -> int:
            received = 0
            while received < 3_000_000:
                received += len(await loop.sock_recv(server, 1 << 20))
            await loop.sock_sendall(server, b"done")
            return received

        async def main():
            reading = loop.create_task(loop.sock_recv(client, 100))
            draining = loop.create_task(drain())
            await loop.sock_sendall(client, bytes(3_000_000))  # waits for room many times
            assert await draining == 3_000_000
            return await reading

        assert loop.run_until_complete(main()) == b"done"
    finally:
        loop.close()


def test_a_simulation_runs_inside_a_running_asyncio_loop():
    """As in a Jupyter notebook, whose kernel runs an asyncio loop in the same thread."""
    import asyncio

    from netstack.sim.run import simulate

    scenario = {"name": "nested", "seed": 1, "duration": "2s", "links": {"path": {"delay": "5ms"}},
                "flows": [{"kind": "ping", "src": "a", "dst": "b", "interval": 0.5}]}

    async def notebook_cell():
        _, record = simulate(scenario)
        return record

    record = asyncio.run(notebook_cell())
    assert len(record.flows[0].rtt_samples) >= 3
