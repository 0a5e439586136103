"""Lab 5's real-tool step (root): the student's UDP unit against the Linux kernel.

In a fresh namespace, app.py runs a netstack Host at 192.0.2.2 on a TAP (the student's udp
unit via LAB_IMPL_ARGS, every frame captured) serving echo on port 7 and the student's
udpkv on 7007; the kernel is 192.0.2.1. Then:

1. `nc -u` sends a line to the stack's echo port and must get the same bytes back;
2. `nc -u` SETs then GETs a key on the stack's udpkv;
3. `nc -u` to a closed port: the stack must answer ICMP port unreachable;
4. the stack's UDP client (the student's udpkv.query) asks a kernel UDP server (this lab's
   reference udpkv on kernel sockets at 192.0.2.1:7008) and must get its answer.

Evidence: stack.pcap, the tools' output, the stack's counters; verify.py re-reads the pcap.
"""

from __future__ import annotations

import hashlib
import os
import sys

from labs.kit.real import KERNEL_IP, STACK_IP, AppBench, Evidence, RealBench
from netstack.netns import wait_for_line

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL_KV_PORT = 7008
CLOSED_PORT = 9


def nc_udp(bench: RealBench, port: int, text: str, wait: float = 2.0):
    """One datagram to the stack's `port` with OpenBSD nc; waits for one datagram back."""
    return bench.run("nc", "-u", "-n", "-w", f"{wait:g}", "-W", "1", STACK_IP, str(port),
                     input=text, timeout=wait + 10)


def main() -> int:
    evidence = Evidence(lab=5)
    token = hashlib.sha256(os.urandom(16)).hexdigest()[:16]
    echo_text = f"hello from nc {token}\n"
    evidence.extra.update({"token": token, "echo_text": echo_text,
                           "kernel_kv_port": KERNEL_KV_PORT, "closed_port": CLOSED_PORT})
    try:
        run(evidence, token, echo_text)
    except Exception as exc:  # noqa: BLE001 - recorded as a failed check, with its reason
        evidence.check("the stack ran with your units until the end of the step", False,
                       f"{type(exc).__name__}: {exc}")
    return evidence.save()


def run(evidence: Evidence, token: str, echo_text: str) -> None:
    log = []
    with AppBench(evidence, os.path.join(HERE, "app.py")) as bench:
        server = bench.ns.popen([sys.executable, "-m", "labs.reference.udpkv", "serve",
                                 "--bind", KERNEL_IP, "--port", str(KERNEL_KV_PORT),
                                 "--set", f"answer={token}"])
        wait_for_line(server, "ready", timeout=10)

        echo = nc_udp(bench, 7, echo_text)
        log.append(f"$ echo {echo_text.strip()!r} | nc -u -W1 {STACK_IP} 7\n{echo.stdout}"
                   f"{echo.stderr}")
        evidence.check("nc -u: the stack's echo service returns the same bytes",
                       echo.stdout == echo_text, f"sent {echo_text!r}, got {echo.stdout!r} "
                       f"{echo.stderr}")

        put = nc_udp(bench, 7007, f"SET lab5 {token}")
        got = nc_udp(bench, 7007, "GET lab5")
        log.append(f"$ printf 'SET lab5 {token}' | nc -u -W1 {STACK_IP} 7007\n{put.stdout}")
        log.append(f"$ printf 'GET lab5' | nc -u -W1 {STACK_IP} 7007\n{got.stdout}")
        evidence.check("nc -u: udpkv on the stack answers SET with OK", put.stdout == "OK",
                       f"got {put.stdout!r} {put.stderr}")
        evidence.check("nc -u: udpkv on the stack answers GET with the value",
                       got.stdout == f"VALUE {token}", f"got {got.stdout!r} {got.stderr}")

        closed = nc_udp(bench, CLOSED_PORT, "anyone there?\n", wait=1.0)
        log.append(f"$ echo 'anyone there?' | nc -u -W1 {STACK_IP} {CLOSED_PORT}\n"
                   f"{closed.stdout}{closed.stderr}(exit {closed.returncode})")
        evidence.check("nc -u to a closed port gets no reply", closed.stdout == "",
                       f"got {closed.stdout!r}")

        reply = bench.ask_app(f"query {KERNEL_IP} {KERNEL_KV_PORT} GET answer")
        log.append(f"app.py: udpkv.query(('{KERNEL_IP}', {KERNEL_KV_PORT}), b'GET answer')\n"
                   f"{reply}")
        evidence.check("the stack's UDP client gets the kernel server's answer",
                       reply == f"reply: VALUE {token}", reply)
        server.terminate()
        counters = bench.stop()
    evidence.write_text("tools.txt", "\n\n".join(log) + "\n")
    evidence.check("the stack answered the closed port with port unreachable (counter)",
                   counters.get("udp.tx.port_unreachable", 0) >= 1,
                   f"udp.tx.port_unreachable = {counters.get('udp.tx.port_unreachable', 0)}")
    evidence.check("the stack received and sent datagrams (counters)",
                   counters.get("udp.rx.datagrams", 0) >= 4
                   and counters.get("udp.tx.datagrams", 0) >= 4,
                   f"rx {counters.get('udp.rx.datagrams')}, tx {counters.get('udp.tx.datagrams')}")
    sys.path.insert(0, HERE)
    from verify import check_capture

    problems = check_capture(evidence.folder, evidence.extra)
    evidence.check("the capture shows it all (verify.py)", not problems, "; ".join(problems))


if __name__ == "__main__":
    sys.exit(main())
