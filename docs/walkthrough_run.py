"""Reproduce the run shown in docs/WALKTHROUGH.md: one line echoed over TCP, captured.

As root, from the repository root (it needs `ip`, and `tshark` to print the capture):

    sudo PYTHONPATH=$PWD python docs/walkthrough_run.py [--keep-capture FILE.pcap] [-- ARGS]

ARGS go to `netstack run` as they are (the traced run: `-- --trace tcp`).

It makes a throw-away network namespace (deleted at the end, whatever happens) and, inside
it, runs `netstack run --port tap:wk0 --ip 192.0.2.2/24 --capture ... --service tcp-echo:7`.
The namespace's kernel, 192.0.2.1 on the TAP, connects to port 7, sends one short line,
reads the echo, half-closes and reads to the end. Then the stack is stopped with SIGINT,
as a user would, and the script prints the frames of the capture (tshark) and the counters
the stack printed on exit. Only 192.0.2.0/24 (RFC 5737) is used; nothing touches the host.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from netstack.netns import Namespace, is_root, unique_name, wait_for_line

STACK_CIDR = "192.0.2.2/24"
STACK_MAC = "02:00:c0:00:02:02"
KERNEL_CIDR = "192.0.2.1/24"
ECHO_PORT = 7
LINE = b"hello, netstack\n"
STOP_TIMEOUT = 10.0

# The kernel's side, run by this Python inside the namespace (so its address is 192.0.2.1).
CLIENT = f"""
import socket
with socket.create_connection(("192.0.2.2", {ECHO_PORT}), timeout=5) as s:
    s.sendall({LINE!r})
    echo = b""
    while len(echo) < {len(LINE)}:
        echo += s.recv(100)
    s.shutdown(socket.SHUT_WR)
    while s.recv(100):
        pass
print("client got", echo)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-capture", metavar="FILE", help="copy the pcap here")
    parser.add_argument("netstack_args", nargs=argparse.REMAINDER,
                        help="after --: more arguments for `netstack run`")
    args = parser.parse_args()
    if not is_root():
        print("needs root: it creates a network namespace and a TAP device", file=sys.stderr)
        return 2
    tap = unique_name("wk")
    with tempfile.TemporaryDirectory(prefix="walkthrough-") as tmp, Namespace("walk") as ns:
        capture = os.path.join(tmp, "walkthrough.pcap")
        command = [sys.executable, "-m", "netstack", "run", "--port", f"tap:{tap}",
                   "--ip", STACK_CIDR, "--mac", STACK_MAC, "--capture", capture,
                   "--service", f"tcp-echo:{ECHO_PORT}",
                   *[a for a in args.netstack_args if a != "--"]]
        stack = ns.popen(command)
        shown = " ".join(["netstack", *command[3:]]).replace(tap, "TAP")
        print("$", shown.replace(capture, "walkthrough.pcap"))
        print(wait_for_line(stack, "ready", timeout=20).replace(tap, "TAP"))
        ns.add_address(tap, KERNEL_CIDR)
        ns.link_up(tap)
        client = ns.run([sys.executable, "-c", CLIENT], timeout=30)
        print(client.stdout.strip())
        stack.send_signal(signal.SIGINT)
        output, _ = stack.communicate(timeout=STOP_TIMEOUT)
        if stack.returncode != 0:
            print(f"netstack exited {stack.returncode}", file=sys.stderr)
            return 1
        if args.keep_capture:
            shutil.copyfile(capture, args.keep_capture)
        # Port 7 would be shown as the ECHO protocol: keep tshark's TCP summary instead.
        tshark = ["tshark", "-r", capture, "--disable-protocol", "echo"]
        print("\n## " + " ".join(tshark).replace(capture, "walkthrough.pcap"))
        if shutil.which("tshark"):
            frames = subprocess.run(tshark, capture_output=True, text=True, check=True)
            print(frames.stdout.rstrip())
        else:
            print("(tshark is not installed)")
        print("\n## what netstack printed after its ready line (the counters, on exit)")
        print(output.decode(errors="replace").rstrip().replace(tap, "TAP"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
