"""Building a running stack, in one place: pool, stack, port, KNI, capture and engine.

    engine = open_engine(config, "tap:ns0", capture="run.pcap")
    engine.run()        # in this thread, until engine.stop(); or engine.start() for a thread
    engine.close()      # stops it and closes everything it was given

`netstack run`, `Host.open` and `netstack demo` all call `open_engine`, so every option a
port or an engine has (TAP offloads, the native and DPDK engines, KNI, capture, a virtual
clock) works the same from each of them. The pieces depend on each other in one order:
  - the pool first: DPDK's comes from its EAL, the native engine needs one the C thread can
    reach, and `tap:NAME,offload` needs 64 KB buffers;
  - the stack, on that pool;
  - the port, which may tell the stack what it offloads (`configure_stack`);
  - then KNI, capture and the engine, which owns all of them from then on.
If any step fails, what was already opened is closed again, newest first.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from netstack.engine.capture import Capture
from netstack.engine.kni import Kni
from netstack.engine.loop import Engine
from netstack.engine.ports import open_port
from netstack.engine.ports.tap import is_offload_spec
from netstack.errors import ConfigError
from netstack.mbuf import OFFLOAD_BUFFER_SIZE, OFFLOAD_POOL_COUNT, MbufPool
from netstack.stack import Stack, StackConfig

ENGINES = ("python", "native")
POOL_SIZE = 4096  # mbufs, unless the caller or the port needs another number


def check_engine_choice(port_spec: str, engine: str) -> None:
    """ConfigError unless `engine` can drive the port `port_spec` names. Opens nothing."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r} (use python or native)")
    if engine == "native":
        from netstack.engine.native_loop import check_supported

        check_supported(port_spec)
        if is_offload_spec(port_spec):
            raise ConfigError("tap:NAME,offload needs --engine python (the native engine has "
                              "no virtio-net header support)")


def open_engine(config: StackConfig, port_spec: str, *, engine: str = "python",
                busy_poll: bool = False, capture: str | None = None, kni: str | None = None,
                eal: tuple[str, ...] | None = None, clock: Any = None,
                pool_size: int | None = None) -> Engine:
    """Open the port `port_spec` names, build the stack `config` describes on it, and return
    the engine that drives them, not yet running. The engine owns every piece: its close()
    closes the port, KNI, capture (and, for DPDK, the mempool and the EAL).

    `engine`: "python" (the loop does the port I/O) or "native" (a C thread does it; tap:
    and afpacket: ports); a dpdk: port always gets the DPDK engine, with `eal` as its EAL
    arguments (None: the defaults). `kni`: "tap:NAME", the kernel's share of the traffic.
    `capture`: a pcap file of every frame. `pool_size`: mbufs (default: what the port needs)."""
    check_engine_choice(port_spec, engine)
    if kni is not None and not config.kni:
        config = dataclasses.replace(config, kni=True)  # the stack sets frames aside for it
    opened: list[Any] = []  # closed newest first if a later step fails
    try:
        pool, engine_class = _pool_and_engine(port_spec, engine, eal, pool_size, opened)
        stack = Stack(config, pool)
        port = open_port(port_spec, mac=config.mac, mtu=config.mtu, pool=pool,
                         counters=stack.counters)
        opened.append(port)
        if hasattr(port, "configure_stack"):
            port.configure_stack(stack)  # what the port offloads (tap:NAME,offload)
        kni_port = Kni(kni, mac=config.mac, mtu=config.mtu, counters=stack.counters) if kni else None
        if kni_port is not None:
            opened.append(kni_port)
        pcap = Capture(capture) if capture else None
        if pcap is not None:
            opened.append(pcap)
        return engine_class(stack, port, pool, kni=kni_port, capture=pcap, clock=clock,
                            busy_poll=busy_poll)
    except BaseException:
        for part in reversed(opened):
            part.close()
        raise


def _pool_and_engine(port_spec: str, engine: str, eal: tuple[str, ...] | None,
                     pool_size: int | None, opened: list[Any]) -> tuple[Any, type[Engine]]:
    """The mbuf pool and the engine class a port and an engine choice need."""
    if port_spec.startswith("dpdk:"):
        # The EAL and its mempool come first; the port is one of the EAL's devices, and the
        # stack's buffers are its rte_mbufs (see dpdk_engine.py).
        from netstack.engine.dpdk_engine import POOL_SIZE as DPDK_POOL_SIZE
        from netstack.engine.dpdk_engine import DpdkEngine, DpdkRuntime

        runtime = DpdkRuntime.open(port_spec, eal, pool_size or DPDK_POOL_SIZE)
        opened.append(runtime)
        return runtime.pool, DpdkEngine
    if eal is not None:
        raise ConfigError("EAL arguments apply only to dpdk: ports")
    if engine == "native":
        from netstack.engine.native_loop import NativeEngine
        from netstack.engine.native_pool import NativeMbufPool

        return NativeMbufPool(pool_size or POOL_SIZE), NativeEngine
    if is_offload_spec(port_spec):
        # tap:NAME,offload moves 64 KB frames: fewer, bigger buffers (engine/vnet.py).
        return MbufPool(pool_size or OFFLOAD_POOL_COUNT, OFFLOAD_BUFFER_SIZE), Engine
    return MbufPool(pool_size or POOL_SIZE), Engine
