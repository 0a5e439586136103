"""Unmodified standard-library code on netstack, on the memory link: the patch, the socket
class's stdlib behaviour, selectors mixing both kinds of fd, socketserver and http."""

from __future__ import annotations

import os
import selectors
import socket
import socketserver
import threading
import time
import urllib.request

import pytest

from netstack import api
from netstack.api.base_socket import FIRST_FILENO
from netstack.compat import patch
from netstack.compat.socket_class import KernelSocket, NetstackSocket, Unsupported
from netstack.services import ServiceRunner
from tests.compat.conftest import OURS_IP, PEER_IP


def peer_listener(pair, port: int):
    sock = pair.peer.socket(api.AF_INET, api.SOCK_STREAM)
    sock.bind(("0.0.0.0", port))
    sock.listen(64)
    return sock


def test_the_patch_says_what_it_replaced_and_gives_the_originals_back(patched):
    assert patch.is_patched("socket", "socket") and patch.is_patched("selectors")
    assert patch.get_original("socket", "socket") is KernelSocket
    assert socket.socket is NetstackSocket
    patch.unpatch_all()
    assert socket.socket is KernelSocket and not patch.is_patched("socket")
    assert selectors.DefaultSelector is selectors.EpollSelector, "the stdlib's choice again"
    patch.patch_all(patched.ours)  # the fixture unpatches again


def test_only_inet_stream_and_datagram_sockets_go_to_netstack(patched):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        assert type(unix) is KernelSocket and unix.fileno() < FIRST_FILENO
        assert isinstance(unix, socket.socket), "a kernel socket is still a socket.socket"
    a, b = socket.socketpair()  # asyncio's self-pipe: must stay the kernel's
    try:
        a.sendall(b"x")
        assert b.recv(1) == b"x" and type(a) is KernelSocket
    finally:
        a.close()
        b.close()
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        assert type(tcp) is NetstackSocket and type(udp) is NetstackSocket
        assert tcp.type == socket.SOCK_STREAM and udp.type == socket.SOCK_DGRAM
        assert tcp.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_STREAM
        assert tcp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) > 0


def test_ten_thousand_sockets_never_collide_with_real_file_descriptors(patched):
    numbers = set()
    for _ in range(10_000):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        numbers.add(sock.fileno())
        sock.close()
    assert len(numbers) == 10_000 and min(numbers) >= FIRST_FILENO
    real = os.open(os.devnull, os.O_RDONLY)
    try:
        assert real < FIRST_FILENO <= min(numbers), "real fds are C ints, ours start above"
    finally:
        os.close(real)


def test_what_cannot_work_says_so(patched):
    with socket.socket() as sock:
        for call in (lambda: os.dup(sock.fileno()), lambda: os.fstat(sock.fileno()),
                     sock.dup, sock.detach):
            with pytest.raises(Unsupported, match="not possible on a netstack socket"):
                call()
    with pytest.raises(RuntimeError, match="fork"):
        os.fork()


def test_default_timeout_applies_to_new_and_accepted_sockets(patched):
    socket.setdefaulttimeout(2.5)
    try:
        assert socket.getdefaulttimeout() == 2.5
        with socket.socket() as server:
            assert server.gettimeout() == 2.5
            server.bind((OURS_IP, 7000))
            server.listen()
            client = patched.peer.socket(api.AF_INET, api.SOCK_STREAM)
            client.connect((OURS_IP, 7000))
            accepted, _peer = server.accept()
            assert accepted.gettimeout() == 2.5
            accepted.close()
            client.close()
    finally:
        socket.setdefaulttimeout(None)


def test_sendall_times_out_over_the_whole_call_not_per_chunk(patched):
    listener = peer_listener(patched, 9000)
    done = threading.Event()
    try:
        with socket.create_connection((PEER_IP, 9000), timeout=5) as sock:
            slow, _ = listener.accept()

            def read_slowly() -> None:  # 16 KB every 50 ms: no single wait reaches 0.5 s
                while not done.wait(0.05):
                    try:
                        slow.recv(16384)
                    except OSError:
                        return

            reader = threading.Thread(target=read_slowly)
            reader.start()
            sock.settimeout(0.5)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                sock.sendall(b"x" * 4_000_000)  # 12 s at that pace
            elapsed = time.monotonic() - started
            assert 0.45 < elapsed < 1.5, f"raised after {elapsed:.2f} s, not about 0.5 s"
            assert sock.gettimeout() == 0.5, "the socket's own timeout is left as it was"
            done.set()
            reader.join(5)
            slow.close()
    finally:
        done.set()
        listener.close()


def test_a_refused_connect_and_connect_ex(patched):
    with socket.socket() as sock:
        assert sock.connect_ex((PEER_IP, 1)) == 111  # ECONNREFUSED: nobody listens there
    with pytest.raises(ConnectionRefusedError), socket.create_connection((PEER_IP, 1), 5):
        pass


def test_makefile_closes_the_socket_only_when_every_file_is_closed(patched):
    listener = peer_listener(patched, 9001)
    try:
        sock = socket.create_connection((PEER_IP, 9001), timeout=5)
        far, _ = listener.accept()
        reader = sock.makefile("rb")
        writer = sock.makefile("w", encoding="ascii")
        sock.close()  # the files keep it open
        writer.write("hello\n")
        writer.flush()
        assert far.recv(100) == b"hello\n"
        far.sendall(b"line one\nline two\n")
        assert reader.readline() == b"line one\n"
        writer.close()
        assert sock._inner.fileno() != -1, "one file is still open"
        reader.close()
        assert sock._inner.fileno() == -1, "the last file closed the socket"
        far.close()
    finally:
        listener.close()


def test_a_selector_waits_on_netstack_sockets_and_a_real_pipe_together(patched):
    listener = peer_listener(patched, 9002)
    read_end, write_end = os.pipe()
    try:
        sock = socket.create_connection((PEER_IP, 9002), timeout=5)
        far, _ = listener.accept()
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ, "netstack")
        selector.register(read_end, selectors.EVENT_READ, "pipe")
        assert selector.select(0.05) == [], "nothing to read yet"
        threading.Timer(0.1, far.sendall, args=(b"data",)).start()
        ready = selector.select(5)
        assert [key.data for key, _ in ready] == ["netstack"], "woken by netstack readiness"
        assert sock.recv(10) == b"data"
        os.write(write_end, b"!")
        assert [key.data for key, _ in selector.select(5)] == ["pipe"]
        selector.close()
        sock.close()
        far.close()
    finally:
        os.close(read_end)
        os.close(write_end)
        listener.close()


def test_socketserver_threading_tcp_server_serves_fifty_clients_at_once(patched):
    class Echo(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(self.rfile.readline())

    server = socketserver.ThreadingTCPServer((OURS_IP, 7001), Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    answers: dict[int, bytes] = {}

    def client(n: int) -> None:
        sock = patched.peer.socket(api.AF_INET, api.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect((OURS_IP, 7001))
        sock.sendall(f"client {n}\n".encode())
        answers[n] = sock.recv(100)
        sock.close()

    try:
        clients = [threading.Thread(target=client, args=(n,)) for n in range(50)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(30)
        assert answers == {n: f"client {n}\n".encode() for n in range(50)}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_urllib_fetches_from_a_netstack_http_service(patched):
    runner = ServiceRunner.from_names(patched.peer, [("http", 80)])
    runner.start()
    try:
        with urllib.request.urlopen(f"http://{PEER_IP}/bytes/5000", timeout=5) as reply:
            body = reply.read()
        assert reply.status == 200 and len(body) == 5000
    finally:
        runner.stop()


def test_http_server_lists_a_directory(patched, tmp_path):
    import functools
    import http.server

    (tmp_path / "lesson.txt").write_text("hi")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer((OURS_IP, 8000), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        sock = patched.peer.socket(api.AF_INET, api.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect((OURS_IP, 8000))
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        page = b""
        while chunk := sock.recv(65536):
            page += chunk
        sock.close()
        assert page.startswith(b"HTTP/1.0 200") and b"lesson.txt" in page
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_sendmsg_sendfile_and_recvmsg_into(patched, tmp_path):
    listener = peer_listener(patched, 9003)
    source = tmp_path / "lesson.bin"
    source.write_bytes(bytes(range(256)) * 100)
    try:
        sock = socket.create_connection((PEER_IP, 9003), timeout=5)
        far, _ = listener.accept()
        far.settimeout(5)
        assert sock.sendmsg([b"head:", memoryview(b"body")]) == 9
        with open(source, "rb") as file:
            assert sock.sendfile(file, offset=100, count=1000) == 1000
            assert file.tell() == 1100, "the file is left after what was sent, as CPython's"
        got = b""
        while len(got) < 1009:
            got += far.recv(4096)
        assert got == b"head:body" + source.read_bytes()[100:1100]
        far.sendall(b"0123456789")
        first, second = bytearray(4), bytearray(10)
        n, ancillary, flags, _addr = sock.recvmsg_into([first, second])  # one segment
        assert (n, ancillary, flags) == (10, [], 0)
        assert bytes(first) + bytes(second[:6]) == b"0123456789"
        sock.close()
        far.close()
    finally:
        listener.close()
