"""Lab 4's real-tool step (root): big pings both ways, and where frag-needed comes from.

Three parts, in one namespace whose kernel is 192.0.2.1 on the stack's TAP (RealBench):

1. kernel -> stack: `ping -s 4000` to 192.0.2.2. The kernel cuts each 4028-byte request
   into three fragments that the student's reassembler puts back; the stack's 4028-byte
   reply is cut by the student's fragmentation and reassembled by the kernel.
2. stack -> kernel: a tiny host app (this file with --pinger) opens a second stack, built
   with the same student units, on a second TAP (203.0.113.2, kernel 203.0.113.1) and
   pings the kernel with 4000 bytes through netstack.api (Host.ping): the request is the
   student's fragmentation, the kernel's fragmented reply the student's reassembly.
3. frag-needed, from where it legitimately comes. The stack is a host: it never forwards,
   so it never has a reason to send "fragmentation needed" (only a router does, RFC 1191
   §4; RFC 1122 §3.2.2.1). So a second namespace ("far", 198.51.100.2) sits behind the
   kernel, which routes between a 9000-byte-MTU veth and the 1500-byte TAP:
   - far `ping -M do -s 1600 192.0.2.2`: 1628 bytes with DF cannot go onto the TAP, so
     the kernel, as a router, answers ICMP type 3 code 4 with next-hop MTU 1500
     (captured on far's side: frag-needed.pcap). The stack never sees that datagram;
   - far `ping -M dont -s 1600 192.0.2.2`: far's kernel has learned the path MTU 1500 from
     that message (RFC 1191), so it fragments the datagram itself; the router forwards the
     fragments, the student's reassembler rebuilds them, and the 1628-byte reply is
     fragmented by the student's code on its way back: 0% loss.
   (On the TAP itself, `ping -M do -s 1600 192.0.2.2` from the kernel fails with its own
   local error, "message too long, mtu=1500", before anything leaves: recorded too, as
   what it is: the kernel refusing locally, not a message from anyone.)

Evidence: stack.pcap (part 1 and 3), pinger.pcap (part 2), frag-needed.pcap (part 3),
the tools' output, the stacks' counters. real/verify.py re-reads them offline.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))
if ROOT not in sys.path:
    sys.path.insert(1, ROOT)

SIZE = 4000  # ping -s 4000: 4008 bytes of ICMP, 4028 with the IP header
PINGER_KERNEL_CIDR, PINGER_KERNEL_IP = "203.0.113.1/24", "203.0.113.1"
PINGER_STACK_CIDR = "203.0.113.2/24"
FAR_CIDR, FAR_IP = "198.51.100.2/24", "198.51.100.2"
ROUTER_FAR_CIDR, ROUTER_FAR_IP = "198.51.100.1/24", "198.51.100.1"
BIG_MTU = 9000
DF_SIZE = 1600  # 1628-byte datagrams: over the TAP's 1500


def impl_from_environment() -> dict[str, str]:
    """LAB_IMPL_ARGS ("--impl unit=module:Attr ...") as Host.open's impl= dict."""
    from netstack.units import parse_impl_argument

    words = shlex.split(os.environ.get("LAB_IMPL_ARGS", ""))
    impl = {}
    for flag, value in zip(words[::2], words[1::2], strict=False):
        if flag == "--impl":
            unit, path = parse_impl_argument(value)
            impl[unit] = path
    return impl


def pinger(tap: str, capture: str) -> int:
    """The host app: a stack on `tap` at 203.0.113.2 that pings the kernel once told to."""
    from netstack.api.host import Host

    host = Host.open(f"tap:{tap}", PINGER_STACK_CIDR, capture=capture,
                     impl=impl_from_environment())
    try:
        print("ready", flush=True)
        sys.stdin.readline()  # the check gives the kernel its address, then says go
        result = host.ping(PINGER_KERNEL_IP, count=3, size=SIZE, interval=0.3, timeout=3.0)
        counters = host.call(lambda stack, now: stack.counters.snapshot())
        print("result " + json.dumps({"sent": result.sent, "received": result.received,
                                      "text": str(result), "counters": counters}), flush=True)
    finally:
        host.close()
    return 0


def main() -> int:
    from labs.kit.real import Evidence, RealBench
    from netstack.netns import Namespace, unique_name, wait_for_line

    evidence = Evidence(lab=4)
    with RealBench(evidence, "--gateway", "192.0.2.1") as bench:
        # 1. kernel -> stack, 4000 bytes: fragments both ways.
        ping = bench.run("ping", "-c", "3", "-i", "0.3", "-W", "3", "-s", str(SIZE),
                         bench.stack_ip, timeout=30)
        evidence.write_text("ping-4000.txt", ping.stdout + ping.stderr)
        evidence.check("kernel -> stack: ping -s 4000, 3 of 3 replies (fragmented both ways)",
                       ping.returncode == 0 and " 0% packet loss" in ping.stdout,
                       ping.stdout + ping.stderr)

        # 3a. on the TAP itself: the kernel's own local refusal, nothing on the wire.
        local = bench.run("ping", "-c", "1", "-W", "2", "-M", "do", "-s", str(DF_SIZE),
                          bench.stack_ip, timeout=15)
        evidence.write_text("ping-df-local.txt", local.stdout + local.stderr)
        evidence.check("kernel -> stack: ping -M do -s 1600 on the 1500-MTU TAP is refused "
                       "locally by the kernel (message too long, mtu=1500)",
                       local.returncode != 0 and "mtu=1500" in local.stdout + local.stderr,
                       local.stdout + local.stderr)

        # 3b. a router in front of the TAP: the real frag-needed, then fragments forwarded.
        with Namespace("nsfar") as far:
            router_side, far_side = unique_name("vr"), unique_name("vf")
            setup = [
                ["ip", "link", "add", router_side, "mtu", str(BIG_MTU), "type", "veth",
                 "peer", "name", far_side, "mtu", str(BIG_MTU)],
                ["ip", "link", "set", far_side, "netns", far.name],
                ["ip", "address", "add", ROUTER_FAR_CIDR, "dev", router_side],
                ["ip", "link", "set", router_side, "up"],
                ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"],
            ]
            for cmd in setup:
                done = bench.run(*cmd, timeout=10)
                if done.returncode != 0:
                    evidence.check(f"set up the router: {' '.join(cmd)}", False, done.stderr)
                    return evidence.save()
            far.add_address(far_side, FAR_CIDR)
            far.link_up(far_side)
            far.run(["ip", "route", "add", "default", "via", ROUTER_FAR_IP])
            # -Z root: tcpdump would otherwise drop to its own user, who may not write here.
            dump = far.popen(["tcpdump", "-Z", "root", "--immediate-mode", "-U", "-n", "-i", far_side, "-w",
                              evidence.path("frag-needed.pcap"), "icmp"])
            wait_for_line(dump, "tcpdump: listening", timeout=10)
            df = far.run(["ping", "-c", "1", "-W", "2", "-M", "do", "-s", str(DF_SIZE),
                          bench.stack_ip], check=False, timeout=15)
            evidence.write_text("ping-df-router.txt", df.stdout + df.stderr)
            evidence.check("far -> stack through the kernel router: ping -M do -s 1600 gets "
                           "frag-needed (mtu = 1500) from the router",
                           re.search(r"[Ff]rag needed.*mtu = 1500", df.stdout + df.stderr)
                           is not None, df.stdout + df.stderr)
            routed = far.run(["ping", "-c", "3", "-i", "0.3", "-W", "3", "-M", "dont", "-s",
                              str(DF_SIZE), bench.stack_ip], check=False, timeout=30)
            evidence.write_text("ping-routed-1600.txt", routed.stdout + routed.stderr)
            evidence.check("far -> stack through the router without DF: far fragments to the "
                           "learned path MTU, the stack reassembles and fragments its reply, "
                           "3 of 3",
                           routed.returncode == 0 and " 0% packet loss" in routed.stdout,
                           routed.stdout + routed.stderr)
            dump.send_signal(signal.SIGINT)  # tcpdump flushes and closes the file on SIGINT
            try:
                dump.wait(timeout=5)
            except subprocess.TimeoutExpired:
                dump.kill()
                dump.wait(timeout=5)
            assert dump.stdout is not None
            evidence.write_text("tcpdump-far.txt", dump.stdout.read().decode(errors="replace"))

        # 2. stack -> kernel: the host app on a second TAP.
        tap = unique_name("lp")
        app = bench.ns.popen([sys.executable, os.path.abspath(__file__), "--pinger", tap,
                              evidence.path("pinger.pcap")], stdin=subprocess.PIPE)
        try:
            wait_for_line(app, "ready", timeout=20)
            bench.ns.add_address(tap, PINGER_KERNEL_CIDR)
            bench.ns.link_up(tap)
            assert app.stdin is not None
            app.stdin.write(b"go\n")
            app.stdin.flush()
            line = wait_for_line(app, "result ", timeout=20)
            result = json.loads(line.split(" ", 1)[1])
        except Exception as exc:  # one failed part fails its check, not the whole step
            result = {"sent": 3, "received": 0, "text": f"the host app failed: {exc}",
                      "counters": {}}
        finally:
            # The app closes its host (and flushes its pcap) after the result line: let it
            # end by itself, and only then insist. A SIGTERM during close loses the capture's
            # last buffered frames.
            try:
                app.wait(timeout=10)
            except subprocess.TimeoutExpired:
                app.terminate()
                app.wait(timeout=10)
        evidence.write_text("pinger-output.txt", json.dumps(result, indent=2) + "\n")
        evidence.check(f"stack -> kernel: the stack's ping of {SIZE} bytes, 3 of 3 replies "
                       f"({result['text']})", result["received"] == 3, result["text"])

        counters = bench.stop()
        evidence.extra["counters"] = {k: v for k, v in counters.items()
                                      if k.startswith(("ipv4.", "icmp."))}
        evidence.check("the stack reassembled datagrams and sent fragments (counters)",
                       counters.get("ipv4.reassembled", 0) >= 6
                       and counters.get("ipv4.tx.fragments", 0) >= 12,
                       json.dumps(evidence.extra["counters"]))
    return evidence.save()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--pinger":
        sys.exit(pinger(sys.argv[2], sys.argv[3]))
    sys.exit(main())
