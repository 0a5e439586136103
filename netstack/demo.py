"""`netstack demo`: watch the Linux kernel ping our Python stack.

As root, it builds a private network namespace with a TAP device, runs `netstack run` as
192.0.2.2 on it, and lets the kernel (192.0.2.1) ping it: small pings, then 4000-byte pings
that are fragmented both ways. It shows the kernel's ARP table (`ip neigh`), which now holds
the stack's MAC, and the stack's counters. Everything it made is removed when it ends.

Without root there are no namespaces or TAP devices, so it runs two stacks in this process,
joined by the in-memory link, and one pings the other.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from ipaddress import IPv4Address, IPv4Interface

from netstack.netns import Namespace, NamespaceError, is_root, unique_name, wait_for_line

KERNEL_CIDR = "192.0.2.1/24"
STACK_CIDR = "192.0.2.2/24"
STACK_IP = "192.0.2.2"


def _section(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def _show(result: subprocess.CompletedProcess[str]) -> None:
    for line in (result.stdout + result.stderr).splitlines():
        print(f"    {line}")


def _ping_ok(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 0 and " 0% packet loss" in result.stdout


def demo_with_kernel(count: int) -> int:
    """The real thing: the kernel in a namespace pings the stack over a TAP device."""
    tap = unique_name("ns")
    ok = True
    with Namespace("nsdemo") as ns:
        _section(f"network namespace {ns.name}: starting netstack on tap:{tap} as {STACK_CIDR}")
        stack = ns.popen([sys.executable, "-m", "netstack", "run",
                          "--port", f"tap:{tap}", "--ip", STACK_CIDR])
        print("    " + wait_for_line(stack, "ready", timeout=20))

        _section(f"the kernel side of the TAP becomes {KERNEL_CIDR}")
        ns.add_address(tap, KERNEL_CIDR)
        ns.link_up(tap)
        _show(ns.run(["ip", "-brief", "address", "show", "dev", tap]))

        _section(f"kernel: ping -c {count} {STACK_IP}")
        result = ns.run(["ping", "-c", str(count), "-i", "0.2", "-W", "2", STACK_IP], check=False)
        _show(result)
        ok &= _ping_ok(result)

        _section(f"kernel: ping -c 3 -s 4000 {STACK_IP}  (fragmented both ways)")
        result = ns.run(["ping", "-c", "3", "-i", "0.2", "-W", "2", "-s", "4000", STACK_IP],
                        check=False)
        _show(result)
        ok &= _ping_ok(result)

        _section(f"kernel: ip neigh show dev {tap}  (the stack's MAC, learned by ARP)")
        _show(ns.run(["ip", "neigh", "show", "dev", tap]))

        _section("stopping netstack (Ctrl-C, as a user would); its counters:")
        stack.send_signal(signal.SIGINT)
        try:
            out, _ = stack.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            stack.kill()
            out, _ = stack.communicate()
        for line in out.decode(errors="replace").splitlines():
            print(f"    {line}")
        ok &= stack.returncode == 0
    print(f"\nnamespace removed. {'Everything worked.' if ok else 'SOMETHING FAILED (see above).'}")
    return 0 if ok else 1


def demo_in_memory(count: int) -> int:
    """No root: two stacks in this process, joined by the in-memory link."""
    from netstack.api.ping import ping
    from netstack.engine.assemble import open_engine
    from netstack.stack import StackConfig

    print("netstack demo: not running as root, so there is no namespace or TAP device.")
    print("Running two stacks joined by the in-memory link instead (`make demo` as root")
    print("shows the real Linux kernel pinging the stack).")
    link = unique_name("demo")
    engines = []
    for last_octet in (1, 2):
        mac = bytes([2, 0, 0xC0, 0, 2, last_octet])
        config = StackConfig(mac=mac, address=IPv4Interface(f"192.0.2.{last_octet}/24"))
        engine = open_engine(config, f"memory:{link}", pool_size=1024)
        engine.start()
        engines.append(engine)
    try:
        for size in (56, 4000):
            _section(f"stack 192.0.2.1 pings stack 192.0.2.2, {count} x {size} bytes")
            result = ping(engines[0], IPv4Address(STACK_IP), count=count, size=size, interval=0.05)
            print(f"    {result}")
            if result.received != result.sent:
                return 1
        _section("counters of 192.0.2.2")
        for name, value in engines[1].stack.counters.snapshot().items():
            print(f"    {name} {value}")
    finally:
        for engine in engines:
            engine.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="netstack demo",
        description="Show the stack answering the Linux kernel's pings in a private network "
        "namespace (as root), or two stacks pinging each other in memory (otherwise).",
    )
    parser.add_argument("--count", type=int, default=5, help="pings per round (default 5)")
    parser.add_argument("--memory", action="store_true",
                        help="use the in-memory link even when running as root")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    try:
        if is_root() and not args.memory:
            return demo_with_kernel(args.count)
        return demo_in_memory(args.count)
    except NamespaceError as exc:
        print(f"netstack demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
