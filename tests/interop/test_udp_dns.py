"""A DNS query from a stack socket to a real DNS server: dnsmasq, in the kernel's namespace.

dnsmasq knows one name (`--address=/lab.example/203.0.113.7`) and nothing else (no upstream,
no /etc/hosts). scapy builds the query and reads the answer, so the DNS bytes are checked
by code other than ours.
"""

from __future__ import annotations

import pytest

from netstack.netns import drain_in_background
from tests.interop.kernel_peer import requires_root
from tests.interop.stack_in_namespace import KERNEL_IP, REPLY_TIMEOUT, StackInNamespace
from tests.netns import wait_until

pytestmark = requires_root
api = pytest.importorskip("netstack.api")
dns = pytest.importorskip("scapy.layers.dns")

LAB_NAME = "www.lab.example"
LAB_ADDRESS = "203.0.113.7"
TYPE_A = 1


def start_dnsmasq(bench: StackInNamespace, tmp_path):
    """dnsmasq on 192.0.2.1:53, in the foreground, logging to its stdout; it is stopped
    (by its pid) when the namespace closes."""
    proc = bench.ns.popen([
        "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
        "--port=53", f"--listen-address={KERNEL_IP}", "--bind-interfaces",
        f"--address=/lab.example/{LAB_ADDRESS}", f"--pid-file={tmp_path / 'dnsmasq.pid'}",
        "--log-facility=-", "--user=root", "--group=root",
    ])
    log = drain_in_background(proc)  # dnsmasq logs to the pipe; never let it fill
    wait_until(lambda: proc.poll() is not None or bench.ns.run(["ss", "-Hnul", "sport = :53"]).stdout.strip(),
               timeout=10, what="dnsmasq to bind UDP port 53")
    assert proc.poll() is None, "dnsmasq exited:\n" + "\n".join(log)
    return proc


def ask(sock, qname: str, ident: int, connected: bool = False):
    query = bytes(dns.DNS(id=ident, rd=1, qd=dns.DNSQR(qname=qname, qtype="A")))
    if connected:
        sock.send(query)
        data = sock.recv(4096)
    else:
        sock.sendto(query, (KERNEL_IP, 53))
        data, sender = sock.recvfrom(4096)
        assert sender == (KERNEL_IP, 53)
    return dns.DNS(data)


def a_records(reply) -> list[str]:
    return [reply.an[i].rdata for i in range(reply.ancount) if reply.an[i].type == TYPE_A]


def test_a_stack_socket_resolves_a_name_with_dnsmasq(tmp_path):
    with StackInNamespace(tmp_path) as bench:
        start_dnsmasq(bench, tmp_path)
        with bench.host.socket(api.AF_INET, api.SOCK_DGRAM) as sock:
            sock.settimeout(REPLY_TIMEOUT)
            reply = ask(sock, LAB_NAME, ident=0x5EED)
            assert (reply.id, reply.qr, reply.rcode) == (0x5EED, 1, 0)
            assert a_records(reply) == [LAB_ADDRESS]

            # The same through a connected socket, for another name under the domain.
            sock.connect((KERNEL_IP, 53))
            reply = ask(sock, "mail.lab.example", ident=0x5EEE, connected=True)
            assert (reply.id, reply.rcode) == (0x5EEE, 0)
            assert a_records(reply) == [LAB_ADDRESS]
