"""asyncio, names and TLS for patched programs, on the memory link."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
import time

import pytest

from netstack import api
from netstack.compat.aio import NetstackEventLoop
from netstack.compat.resolver import Resolver, read_hosts
from netstack.compat.tls import NetstackSSLSocket
from netstack.services import ServiceRunner
from netstack.wire.dns import (
    FLAG_QR,
    TYPE_A,
    TYPE_PTR,
    DnsError,
    build_query,
    encode_name,
    parse_reply,
    reverse_name,
)
from tests.compat.conftest import OURS_IP, PEER_IP


# --- asyncio -------------------------------------------------------------------------------
def test_asyncio_runs_on_netstack_loops(patched):
    async def main() -> str:
        assert isinstance(asyncio.get_running_loop(), NetstackEventLoop)

        async def echo(reader, writer):
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, OURS_IP, 7100)
        async with server:
            return await asyncio.wait_for(talk_from_peer(), 10)

    async def talk_from_peer() -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, peer_round_trip)

    def peer_round_trip() -> str:
        sock = patched.peer.socket(api.AF_INET, api.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect((OURS_IP, 7100))
        sock.sendall(b"over asyncio\n")
        answer = sock.recv(100).decode()
        sock.close()
        return answer

    assert asyncio.run(main()) == "over asyncio\n"


def test_asyncio_client_wait_for_and_refusal(patched):
    runner = ServiceRunner.from_names(patched.peer, [("tcp-echo", 7), ("tcp-discard", 9)])
    runner.start()

    async def main() -> tuple[bytes, float]:
        reader, writer = await asyncio.open_connection(PEER_IP, 7)
        writer.write(b"ping\n")
        echoed = await reader.readline()
        writer.close()
        await writer.wait_closed()
        silent_reader, silent_writer = await asyncio.open_connection(PEER_IP, 9)
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(silent_reader.read(1), 0.3)  # discard never answers
        waited = time.monotonic() - started
        silent_writer.close()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(PEER_IP, 1)
        return echoed, waited

    try:
        echoed, waited = asyncio.run(main())
    finally:
        runner.stop()
    assert echoed == b"ping\n"
    assert 0.25 < waited < 2, f"wait_for gave up after {waited:.2f} s"


def test_asyncio_datagram_endpoint(patched):
    runner = ServiceRunner.from_names(patched.peer, [("udp-echo", 7)])
    runner.start()

    class Client(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.answer = asyncio.get_running_loop().create_future()

        def datagram_received(self, data, addr) -> None:
            self.answer.set_result((data, addr))

    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            Client, remote_addr=(PEER_IP, 7))
        transport.sendto(b"datagram")
        try:
            return await asyncio.wait_for(protocol.answer, 5)
        finally:
            transport.close()

    try:
        data, addr = asyncio.run(main())
    finally:
        runner.stop()
    assert data == b"datagram" and addr == (PEER_IP, 7)


# --- names -----------------------------------------------------------------------------------
def test_dns_messages_round_trip_and_hostile_replies_are_refused():
    query = build_query(0x4242, "www.lab.example", TYPE_A)
    question = query[12:]
    answer_record = b"\xc0\x0c" + bytes.fromhex("0001 0001 00000e10 0004") + bytes([203, 0, 113, 7])
    reply = (bytes.fromhex("4242") + (FLAG_QR | 0x0100).to_bytes(2, "big")
             + bytes.fromhex("0001 0001 0000 0000") + question + answer_record)
    assert parse_reply(reply, 0x4242).addresses == ["203.0.113.7"]
    with pytest.raises(DnsError):
        parse_reply(reply, 0x4243)  # another query's answer
    with pytest.raises(DnsError):
        parse_reply(reply[:-3], 0x4242)  # cut short
    # One question whose name is a pointer to itself (offset 12): it must not loop.
    looping = reply[:4] + bytes.fromhex("0001 0000 0000 0000") + b"\xc0\x0c" + query[-4:]
    with pytest.raises(DnsError):
        parse_reply(looping, 0x4242)  # a name that points at itself
    assert reverse_name("192.0.2.7") == "7.2.0.192.in-addr.arpa"
    assert encode_name("a.b") == b"\x01a\x01b\x00"


def fake_dns_server(host, names: dict[str, str], stop: threading.Event) -> threading.Thread:
    """A DNS server on `host` port 53 that knows `names` (A) and their reverse (PTR)."""
    sock = host.socket(api.AF_INET, api.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 53))
    sock.settimeout(0.1)
    reverse = {reverse_name(address): name for name, address in names.items()}

    def serve() -> None:
        while not stop.is_set():
            try:
                query, peer = sock.recvfrom(512)
            except TimeoutError:
                continue
            qname_end = query.index(b"\0", 12) + 1
            labels, at = [], 12
            while query[at]:
                labels.append(query[at + 1:at + 1 + query[at]].decode())
                at += 1 + query[at]
            name, qtype = ".".join(labels), int.from_bytes(query[qname_end:qname_end + 2], "big")
            if qtype == TYPE_A and name in names:
                data = bytes(int(p) for p in names[name].split("."))
            elif qtype == TYPE_PTR and name in reverse:
                data = encode_name(reverse[name])
            else:
                sock.sendto(query[:2] + b"\x81\x83" + query[4:6] + b"\0\0\0\0\0\0"
                            + query[12:qname_end + 4], peer)  # NXDOMAIN
                continue
            record = b"\xc0\x0c" + qtype.to_bytes(2, "big") + b"\x00\x01\x00\x00\x00\x3c" + \
                len(data).to_bytes(2, "big") + data
            sock.sendto(query[:2] + b"\x81\x80" + query[4:6] + b"\x00\x01\0\0\0\0"
                        + query[12:qname_end + 4] + record, peer)
        sock.close()

    thread = threading.Thread(target=serve)
    thread.start()
    return thread


def test_names_come_from_numbers_hosts_then_dns_over_netstack(patched, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("# a comment\n198.51.100.9  files.lab.example files\n::1 ip6-localhost\n")
    assert read_hosts(hosts) == {"files.lab.example": "198.51.100.9", "files": "198.51.100.9"}
    stop = threading.Event()
    server = fake_dns_server(patched.peer, {"www.lab.example": "203.0.113.7"}, stop)
    try:
        from netstack.compat import patch

        patch.patch_all(patched.ours, dns=PEER_IP, hosts_file=hosts)
        assert socket.gethostbyname("192.0.2.44") == "192.0.2.44"
        assert socket.gethostbyname("FILES") == "198.51.100.9"
        assert socket.gethostbyname("www.lab.example") == "203.0.113.7"
        info = socket.getaddrinfo("www.lab.example", "http", type=socket.SOCK_STREAM)
        assert info == [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                         ("203.0.113.7", 80))]
        assert socket.getfqdn("203.0.113.7") == "www.lab.example"
        with pytest.raises(socket.gaierror):
            socket.gethostbyname("nowhere.lab.example")
        started = time.monotonic()
        assert socket.getfqdn("198.51.100.200") == "198.51.100.200", "no PTR: the name itself"
        assert time.monotonic() - started < 1.5, "no PTR answer within 1 s: give up"
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo("www.lab.example", 80, socket.AF_INET6)
    finally:
        stop.set()
        server.join(5)


def test_without_a_dns_server_an_unknown_name_fails_at_once(tmp_path):
    resolver = Resolver(None, None, tmp_path / "no-hosts")
    started = time.monotonic()
    with pytest.raises(socket.gaierror):
        resolver.to_ipv4("www.lab.example")
    assert time.monotonic() - started < 0.5


# --- TLS -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=lab.example", "-addext", "subjectAltName=DNS:lab.example",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    return cert, key


def test_tls_handshake_and_request_over_netstack(patched, certificate):
    cert, key = certificate
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    listener = patched.peer.socket(api.AF_INET, api.SOCK_STREAM)
    listener.bind(("0.0.0.0", 443))
    listener.listen(4)
    served = {}

    def serve() -> None:  # the peer's TLS server, over its own netstack socket
        raw, _ = listener.accept()
        raw.settimeout(5)
        tls = NetstackSSLSocket(server_context, raw, server_side=True)
        served["request"] = tls.recv(100)
        tls.sendall(b"HTTP/1.0 200 OK\r\n\r\nsecret")
        tls.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        client_context = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection((PEER_IP, 443), timeout=5) as raw:
            with client_context.wrap_socket(raw, server_hostname="lab.example") as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
                assert tls.getpeercert()["subject"] == ((("commonName", "lab.example"),),)
                tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
                answer = b""
                while chunk := tls.recv(100):
                    answer += chunk
        assert answer.endswith(b"secret") and served["request"].startswith(b"GET /")
    finally:
        thread.join(10)
        listener.close()


def test_asyncio_open_connection_with_ssl(patched, certificate):
    cert, key = certificate
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    listener = patched.peer.socket(api.AF_INET, api.SOCK_STREAM)
    listener.bind(("0.0.0.0", 8443))
    listener.listen(4)

    def serve() -> None:
        raw, _ = listener.accept()
        raw.settimeout(5)
        tls = NetstackSSLSocket(server_context, raw, server_side=True)
        tls.sendall(b"over asyncio's TLS: " + tls.recv(100))
        tls.close()

    thread = threading.Thread(target=serve)
    thread.start()

    async def main() -> bytes:
        context = ssl.create_default_context(cafile=str(cert))
        reader, writer = await asyncio.open_connection(PEER_IP, 8443, ssl=context,
                                                       server_hostname="lab.example")
        writer.write(b"hello")
        answer = await asyncio.wait_for(reader.read(100), 5)
        writer.close()
        return answer

    try:
        assert asyncio.run(main()) == b"over asyncio's TLS: hello"
    finally:
        thread.join(10)
        listener.close()
