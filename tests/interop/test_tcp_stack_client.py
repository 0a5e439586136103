"""A netstack SOCK_STREAM socket as the client, the Linux kernel as the server.

The stack is an in-process Host whose TAP lives in the test namespace (TcpStackInNamespace);
the servers are the kernel's: `python -m http.server` serving a file of known bytes, and
nothing at all on a closed port.
"""

from __future__ import annotations

import errno
import hashlib
import sys

import pytest

from tests.interop.kernel_peer import requires_root
from tests.interop.tcp_support import (
    KERNEL_IP,
    MB,
    TcpStackInNamespace,
    known_bytes,
    sha256_hex,
    wait_for_listener,
)

pytestmark = requires_root
api = pytest.importorskip("netstack.api")

FILE_BYTES = 20 * MB
HTTP_PORT = 8000
CLOSED_PORT = 9
DOWNLOAD_DEADLINE = 120.0  # seconds; a passing run takes a few


def read_http_response(sock) -> tuple[bytes, int, hashlib._Hash]:
    """Read an HTTP/1.0 response to EOF: (header block, body length, sha256 of the body)."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed before the end of the headers: {head!r}"
        head += chunk
    head, _, body_start = head.partition(b"\r\n\r\n")
    digest = hashlib.sha256(body_start)
    length = len(body_start)
    while chunk := sock.recv(65536):
        digest.update(chunk)
        length += len(chunk)
    return head, length, digest


def test_stack_client_downloads_twenty_megabytes_from_the_kernels_http_server(tmp_path, engine):
    served = tmp_path / "www"
    served.mkdir()
    (served / "known.bin").write_bytes(known_bytes(FILE_BYTES, seed=11))
    with TcpStackInNamespace(tmp_path, engine=engine) as bench:
        bench.ns.popen([sys.executable, "-m", "http.server", "--bind", KERNEL_IP,
                        "--directory", str(served), str(HTTP_PORT)])
        wait_for_listener(bench.ns, HTTP_PORT)
        with bench.host.socket(api.AF_INET, api.SOCK_STREAM) as sock:
            sock.settimeout(DOWNLOAD_DEADLINE)  # no single call may block longer than this
            sock.connect((KERNEL_IP, HTTP_PORT))
            sock.sendall(b"GET /known.bin HTTP/1.0\r\nHost: 192.0.2.1\r\n\r\n")
            head, length, digest = read_http_response(sock)
    assert head.startswith(b"HTTP/1.0 200"), head
    assert f"Content-Length: {FILE_BYTES}".encode() in head, head
    assert length == FILE_BYTES
    assert digest.hexdigest() == sha256_hex(known_bytes(FILE_BYTES, seed=11)), \
        "the download has the right length but different bytes"


def test_stack_socket_connecting_to_a_closed_kernel_port_gets_econnrefused(tmp_path, engine):
    with TcpStackInNamespace(tmp_path, engine=engine) as bench, bench.host.socket(api.AF_INET, api.SOCK_STREAM) as sock:
        sock.settimeout(10)
        with pytest.raises(ConnectionRefusedError) as refused:
            sock.connect((KERNEL_IP, CLOSED_PORT))  # the kernel answers our SYN with a RST
        assert refused.value.errno == errno.ECONNREFUSED


def test_nonblocking_connect_to_a_closed_kernel_port_reports_econnrefused(tmp_path, engine):
    with TcpStackInNamespace(tmp_path, engine=engine) as bench, bench.host.socket(api.AF_INET, api.SOCK_STREAM) as sock:
        sock.setblocking(False)
        assert sock.connect_ex((KERNEL_IP, CLOSED_PORT)) == errno.EINPROGRESS
        poller = api.poll()
        poller.register(sock, api.POLLOUT)
        assert poller.poll(10_000), "no readiness within 10 s of a refused connect"
        assert sock.getsockopt(api.SOL_SOCKET, api.SO_ERROR) == errno.ECONNREFUSED
