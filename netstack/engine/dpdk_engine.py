"""The stack on DPDK: rte_mbufs for buffers, rte_rings for the in and out rings.

    rte_eth_rx_burst -> rte_mbufs -> [in rte_ring] -> Engine._dispatch -> stack.receive
    rte_eth_tx_burst <- rte_mbufs <- [out rte_ring] <- Engine._collect <- stack.outgoing, KNI

`DpdkEngine` is `Engine` (loop.py) with three things swapped, and nothing else:
  - the pool is a `DpdkMbufPool`: each `Mbuf` is a view over an rte_mbuf's data;
  - the in and out rings are `DpdkRing`s (rte_ring), carrying rte_mbuf pointers;
  - the port is a `DpdkPort`: a poll-mode driver. Where the PMD has rx interrupts
    (net_tap), the port has an fd and the loop sleeps in poll() on it exactly as on a TAP;
    where it has none (net_af_packet), the loop polls with a short backoff instead.
Control queue, dispatch into the stack, timers, pass hooks, KNI and capture are Engine's
code: the protocol stages get the same `Mbuf`-like objects from the same `_dispatch`, and
send through the same `stack.outgoing`, as on a TAP port.

The exception path (KNI). DPDK's rte_kni is deprecated in 22.11 and removed in 23.11; DPDK
points to the TAP PMD or virtio-user instead. We keep our own TAP-based KNI (kni.py), as on
every other port: it is a TAP device carrying the stack's MAC, read and written by the same
loop. Why not a second DPDK vdev (net_tap as exception port)? It would be a second
poll-mode port with no fd to sleep on, a second set of DPDK-specific code paths for what
is the same job on every port, and the kernel side would be identical anyway: a TAP netdev.

Threads. With `-l 0` the thread that calls rte_eal_init is the main lcore. `netstack run`
calls it from its main thread; the loop may then run there or on a thread of its own
(with --service). DPDK allows bursts, ring and mempool calls from such a non-EAL thread:
the mempool is made without a per-lcore cache for that reason (dpdk_pool.py).
"""

import logging
import math
import shlex

from netstack.engine.dpdk_eal import DEFAULT_EAL_ARGS, DpdkRing, Eal, require_binding
from netstack.engine.dpdk_pool import DpdkMbufPool
from netstack.engine.loop import Engine
from netstack.errors import ConfigError

log = logging.getLogger(__name__)

SPIN_POLLS = 200  # empty rx bursts before the loop starts sleeping between polls
IDLE_SLEEP = 0.001  # seconds between polls of an idle port: ~0.1% of a core, +1 ms latency
POOL_SIZE = 8191  # mbufs; 2^n - 1 is the mempool's best size


def parse_eal_args(text: str | None) -> tuple[str, ...]:
    """`--eal "..."` as arguments; the defaults when not given."""
    if text is None:
        return DEFAULT_EAL_ARGS
    try:
        return tuple(shlex.split(text))
    except ValueError as e:
        raise ConfigError(f"bad --eal {text!r}: {e}") from None


class DpdkRuntime:
    """The EAL and its mempool, opened before the port and closed after it."""

    def __init__(self, eal: Eal, pool: DpdkMbufPool) -> None:
        self.eal = eal
        self.pool = pool

    @classmethod
    def open(cls, port_spec: str, eal_args: tuple[str, ...] | None = None,
             pool_size: int = POOL_SIZE) -> "DpdkRuntime":
        """EAL init with `eal_args` (default DEFAULT_EAL_ARGS) plus `--vdev=` the port's
        VDEV-ARGS, then the mempool. Raises ConfigError with what went wrong."""
        require_binding()
        kind, _, vdev = port_spec.partition("?")[0].partition(":")
        if kind != "dpdk" or not vdev:
            raise ConfigError(f"bad DPDK port spec {port_spec!r}: expected dpdk:VDEV-ARGS, "
                              "e.g. dpdk:net_tap0,iface=dtap0")
        args = (*(DEFAULT_EAL_ARGS if eal_args is None else eal_args), f"--vdev={vdev}")
        eal = Eal.init(args)
        try:
            pool = DpdkMbufPool(pool_size)
        except (MemoryError, RuntimeError) as e:
            eal.cleanup()
            raise ConfigError(str(e)) from None
        return cls(eal, pool)

    def close(self) -> None:
        """Free the mempool, then release the EAL. Safe to call twice."""
        self.pool.close()
        self.eal.cleanup()


class DpdkEngine(Engine):
    """`Engine` over DPDK. Needs a DpdkMbufPool and a DpdkPort (or any port over that pool)."""

    def __init__(self, stack, port, pool: DpdkMbufPool, kni=None, clock=None, capture=None,
                 burst: int = 32, ring_size: int = 1024, busy_poll: bool = False) -> None:
        if not isinstance(pool, DpdkMbufPool):
            raise TypeError("the DPDK engine needs a DpdkMbufPool")
        super().__init__(stack, port, pool, kni=kni, clock=clock, capture=capture, burst=burst,
                         ring_size=ring_size, busy_poll=busy_poll)
        # The one structural difference from Engine: the in and out rings are rte_rings.
        # Engine's code fills and drains them as it does its native Rings; the values are
        # Mbuf.index, which for a DpdkMbufPool is the rte_mbuf's address.
        self.in_ring = DpdkRing(ring_size, single_producer=True, single_consumer=True)
        self.out_ring = DpdkRing(ring_size, single_producer=True, single_consumer=True)

    def _sleep(self, wait: float | None) -> list[tuple[int, int]]:
        """With an rx interrupt fd, Engine's poll(). Without one nothing can wake us when a
        frame arrives: after a run of empty polls, sleep IDLE_SLEEP at a time (still woken
        early by KNI frames and other threads' wakeups)."""
        if self.port.fileno() is not None:
            return super()._sleep(wait)
        if self.capture is not None:
            self.capture.flush()
        if getattr(self.port, "idle_polls", SPIN_POLLS) < SPIN_POLLS:
            return self._poller.poll(0)
        nap = IDLE_SLEEP if wait is None else min(wait, IDLE_SLEEP)
        return self._poller.poll(math.ceil(nap * 1000))

    def close(self) -> None:
        """Stop, close the port, KNI and capture (Engine.close), then the rings, the mempool
        and the EAL, in that order: each needs the next one still alive."""
        super().close()
        for ring in (self.in_ring, self.out_ring):
            ring.close()
        self.pool.close()
        eal = Eal.current()
        if eal is not None:
            eal.cleanup()
