"""What the DPDK tests share: the skip marks, a KernelPeer on DPDK's TAP PMD, and a way to
run a check in a child process that owns an EAL.

    pytestmark = [requires_dpdk]                       # skipped, with the reason, without DPDK
    with DpdkKernelPeer(tmp_path, "--service", ...):    # KernelPeer, port dpdk:net_tap0,iface=..
    run_in_eal(check_function)                          # check_function() in a fresh EAL

The EAL can be initialised once per process, pins its thread to lcore 0 and cannot be
initialised again after cleanup; so the binding's checks each run in a spawned child
process, never in pytest's own.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from netstack.engine.dpdk_eal import AVAILABLE, DEFAULT_EAL_ARGS, WHY_UNAVAILABLE
from tests.interop.kernel_peer import KernelPeer
from tests.netns import is_root

requires_dpdk = pytest.mark.skipif(not AVAILABLE, reason=WHY_UNAVAILABLE or "DPDK binding built")
requires_root = pytest.mark.skipif(
    not is_root(), reason="needs root: creates network namespaces and DPDK TAP devices")

# The loopback vdev: DPDK's ring PMD, whose rx queue is its tx queue's rte_ring.
LOOPBACK = "net_ring0"


def dpdk_port_spec(tap: str) -> str:
    """The TAP PMD creates `tap` itself, in the namespace the stack runs in."""
    return f"dpdk:net_tap0,iface={tap}"


class DpdkKernelPeer(KernelPeer):
    """KernelPeer (tests/interop/kernel_peer.py) with DPDK's TAP PMD as the stack's port:
    the same namespace, kernel side and checks; only --port differs."""

    PORT_SPEC = dpdk_port_spec("{tap}")


def _in_child(check: Callable[..., Any], eal_args: tuple[str, ...], args: tuple) -> Any:
    from netstack.engine.dpdk_eal import Eal

    eal = Eal.init(eal_args)
    try:
        return check(*args)
    finally:
        eal.cleanup()


def run_in_eal(check: Callable[..., Any], *args: Any, vdev: str = LOOPBACK,
               timeout: float = 60.0) -> Any:
    """check(*args) in a spawned process with an EAL (default args + --vdev=`vdev`); its
    result, or its exception re-raised here (with the child's traceback attached)."""
    eal_args = (*DEFAULT_EAL_ARGS, f"--vdev={vdev}")
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
        return child.submit(_in_child, check, eal_args, args).result(timeout)
