"""iperf3 against netstack: the real `iperf3 -c` to `--service iperf3:5201`, and Linux.

The subject is `netstack run --service iperf3:5201` on a TAP, measured by Debian's iperf3
client in the kernel peer's namespace (`iperf3 -c 192.0.2.2 -t S -J`, the receiver's
figure). The reference is the same client against `iperf3 -s` on the far end of a veth
KernelPair (Linux at its best, with its offloads). Rows: forward (the kernel sends) and
`-R` (netstack sends). Rounds alternate reference and subject; each keeps its best.
"""

from __future__ import annotations

import json
import shutil
from contextlib import ExitStack

import netstack.bench.tap as tap
from netstack.bench.common import BenchError, Result, Settings, progress
from netstack.bench.tap import STACK_IP, responder_on_tap
from netstack.bench.tcp_kernel import FAR_IP, KernelPair
from netstack.netns import Namespace, NamespaceError

SECONDS = 3
ROUNDS = 2
PORT = 5201


def _client(ns: Namespace, server: str, reverse: bool) -> float:
    """Mbit/s as the receiver counted them."""
    argv = ["iperf3", "-c", server, "-p", str(PORT), "-t", str(SECONDS), "-J"]
    done = ns.run(argv + (["-R"] if reverse else []), check=False, timeout=SECONDS + 30)
    try:
        end = json.loads(done.stdout)["end"]
        return end["sum_received"]["bits_per_second"] / 1e6
    except (ValueError, KeyError) as exc:
        raise BenchError(f"iperf3 -c {server}{' -R' if reverse else ''} failed: "
                         f"{(done.stderr or done.stdout).strip()[:200] or exc}") from None


def bench_iperf3(settings: Settings) -> list[Result]:
    tap.require_root("iperf3")
    if shutil.which("iperf3") is None:
        raise BenchError("iperf3 is not installed (make setup installs it)")
    figures: dict[tuple[bool, bool], list[float]] = {}
    with ExitStack() as stack:
        try:
            pair = stack.enter_context(KernelPair(one_segment=False))
            server = pair.far.popen(["iperf3", "-s", "-p", str(PORT)])
            stack.callback(server.kill)
        except NamespaceError as exc:
            raise BenchError(f"the Linux veth reference failed to start: {exc}") from exc
        command = tap.netstack_run_command("--service", f"iperf3:{PORT}",
                                           *settings.run_options(), port=settings.port)
        stack_ns = stack.enter_context(responder_on_tap(command))
        for reverse in (False, True):
            for round_number in range(ROUNDS):
                for reference, ns, target in ((True, pair.near, FAR_IP),
                                              (False, stack_ns, STACK_IP)):
                    side = "Linux over veth" if reference else "netstack"
                    progress(f"  iperf3{' -R' if reverse else ''}: round {round_number + 1}/"
                             f"{ROUNDS}, {side}")
                    figures.setdefault((reverse, reference), []).append(
                        _client(ns, target, reverse))
    return [Result(name=f"iperf3 -c, {SECONDS} s{' -R (netstack sends)' if reverse else ''}",
                   unit="Mbit/s", subject_label="netstack --service iperf3",
                   subject=max(figures[reverse, False]), reference_label="Linux iperf3 -s over veth",
                   reference=max(figures[reverse, True]), higher_is_better=True)
            for reverse in (False, True)]
