"""Host.open builds its stack as `netstack run` does (engine/assemble.py), so a TAP with the
kernel's offloads works from the socket API too: `Host.open("tap:NAME,offload", ...)`.

A lab manual: open a Host on a TAP with offloads inside a namespace, let the kernel
(192.0.2.1) connect to a listening stack socket and send 4 MB, and check that the bytes
arrived intact and that the kernel handed them over as 64 KB frames.
"""

from __future__ import annotations

import hashlib
import socket
import threading

from netstack.api import AF_INET, SOCK_STREAM, Host
from tests.interop.kernel_peer import KERNEL_CIDR, STACK_CIDR, STACK_IP, STACK_MAC, requires_root
from tests.netns import Namespace, unique_name

pytestmark = requires_root

PAYLOAD = bytes(range(256)) * (4 * 1024 * 1024 // 256)  # 4 MB of a known pattern
PORT = 5001


def test_a_host_on_a_tap_with_offloads_receives_64_kb_frames():
    tap = unique_name("ho")
    with Namespace("nsho") as ns:
        # Opened from inside the namespace: the TAP, and the engine's thread, live there.
        host = ns.call(Host.open, f"tap:{tap},offload", STACK_CIDR, mac=STACK_MAC)
        client = None
        try:
            assert host.stack.ethernet.max_payload == 65535  # the port configured the stack
            ns.add_address(tap, KERNEL_CIDR)
            ns.link_up(tap)
            listener = host.socket(AF_INET, SOCK_STREAM)
            listener.bind(("0.0.0.0", PORT))
            listener.listen()
            client = ns.call(socket.socket, socket.AF_INET, socket.SOCK_STREAM)
            client.settimeout(20)
            client.connect((STACK_IP, PORT))
            conn, _ = listener.accept()
            conn.settimeout(20)
            sender = threading.Thread(target=client.sendall, args=(PAYLOAD,), daemon=True)
            sender.start()
            received = bytearray()
            while len(received) < len(PAYLOAD):
                chunk = conn.recv(1 << 20)
                assert chunk, f"the connection ended after {len(received)} bytes"
                received += chunk
            sender.join(20)
            assert hashlib.sha256(received).digest() == hashlib.sha256(PAYLOAD).digest()
            counters = host.counters.snapshot()
            assert counters.get("port.rx.gso_frames", 0) > 0, counters
            assert counters.get("eth.drop.oversized", 0) == 0, counters
        finally:
            if client is not None:
                client.close()
            host.close()
