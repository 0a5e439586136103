"""Unmodified Python programs under `netstack exec`, talking to the Linux kernel (root only).

Each test runs `netstack exec --port tap:T` inside a fresh namespace: the program's sockets
are netstack's (192.0.2.2), the kernel on the TAP is 192.0.2.1 and runs the real peers:
curl, Python's own http.server and ssl, dnsmasq.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from netstack.netns import drain_in_background
from tests.interop.kernel_peer import requires_root
from tests.netns import Namespace, unique_name, wait_until

pytestmark = [requires_root, pytest.mark.root]

KERNEL_IP = "192.0.2.1"
STACK = ["--ip", "192.0.2.2/24"]


class ExecInNamespace:
    """`netstack exec ... PROGRAM` in a namespace whose kernel is 192.0.2.1 on its TAP."""

    def __init__(self, ns: Namespace, *program: str, options: tuple[str, ...] = ()) -> None:
        self.ns = ns
        self.tap = unique_name("ex")
        self.proc = ns.popen([sys.executable, "-m", "netstack", "exec", "--port",
                              f"tap:{self.tap}", *STACK, *options, *program])
        self.output = drain_in_background(self.proc)
        wait_until(lambda: self.proc.poll() is not None or ns.has_link(self.tap), timeout=20,
                   what="netstack exec to open its TAP")
        assert self.proc.poll() is None, "netstack exec ended early:\n" + self.text
        ns.add_address(self.tap, f"{KERNEL_IP}/24")
        ns.link_up(self.tap)

    @property
    def text(self) -> str:
        return "\n".join(self.output)

    def finish(self, timeout: float = 20) -> int:
        """The program's exit status (it ends by itself)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("the program did not end:\n" + self.text) from None

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.finish()


def script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def curl(ns: Namespace, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return ns.run(["curl", "-s", "--max-time", "2", *extra, url], check=False)


def test_http_server_under_exec_serves_curl(tmp_path):
    (tmp_path / "lesson-notes.txt").write_text("notes")
    with Namespace("nse") as ns:
        program = ExecInNamespace(ns, "-m", "http.server", "--bind", "192.0.2.2", "8000",
                                  "--directory", str(tmp_path))
        listing = wait_until(lambda: curl(ns, "http://192.0.2.2:8000/").stdout or None,
                             timeout=15, what="http.server to answer curl")
        assert "lesson-notes.txt" in listing
        assert program.interrupt() == 0, program.text
        assert "tcp.conn.passive_open" in program.text, "the counters, at exit"


def test_urllib_fetches_from_the_kernels_http_server(tmp_path):
    (tmp_path / "page.txt").write_text("served by the kernel's Python")
    with Namespace("nse") as ns:
        server = ns.popen([sys.executable, "-m", "http.server", "--bind", "0.0.0.0", "8080",
                           "--directory", str(tmp_path)])
        drain_in_background(server)
        program = ExecInNamespace(ns, script(tmp_path, "fetch.py", """
            import time, urllib.request
            for attempt in range(40):  # until the TAP is up and the server listens
                try:
                    page = urllib.request.urlopen("http://192.0.2.1:8080/page.txt", timeout=2)
                    break
                except OSError:
                    time.sleep(0.25)
            print(page.read())
        """), options=("--quiet",))
        assert program.finish(30) == 0, program.text
        assert "served by the kernel's Python" in program.text


def test_threading_tcp_server_serves_fifty_concurrent_kernel_clients(tmp_path):
    with Namespace("nse") as ns:
        program = ExecInNamespace(ns, script(tmp_path, "echo.py", """
            import socketserver
            class Echo(socketserver.StreamRequestHandler):
                def handle(self):
                    self.wfile.write(self.rfile.readline())
            socketserver.ThreadingTCPServer.allow_reuse_address = True
            with socketserver.ThreadingTCPServer(("192.0.2.2", 7007), Echo) as server:
                try:
                    server.serve_forever(poll_interval=0.1)
                except KeyboardInterrupt:
                    pass
        """))
        clients = script(tmp_path, "clients.py", """
            import socket, threading
            answers = {}
            def client(n):
                with socket.create_connection(("192.0.2.2", 7007), timeout=10) as s:
                    s.sendall(b"client %d\\n" % n)
                    answers[n] = s.makefile("rb").readline()
            threads = [threading.Thread(target=client, args=(n,)) for n in range(50)]
            [t.start() for t in threads]
            [t.join() for t in threads]
            print(sum(answers.get(n) == b"client %d\\n" % n for n in range(50)), "answered")
        """)
        wait_until(lambda: ns.run([sys.executable, "-c", "import socket; socket.create_connection"
                                   "(('192.0.2.2', 7007), 1).close()"], check=False).returncode == 0,
                   timeout=15, what="the echo server to listen")
        done = ns.run([sys.executable, clients], check=False, timeout=60)
        assert done.stdout.strip() == "50 answered", done.stdout + done.stderr
        assert program.interrupt() == 0, program.text


def test_a_name_is_resolved_by_dnsmasq_over_netstack(tmp_path):
    with Namespace("nse") as ns:
        lookup = script(tmp_path, "lookup.py", """
            import socket, time
            for attempt in range(20):  # dnsmasq may still be starting
                try:
                    print("address", socket.gethostbyname("www.lab.example"))
                    break
                except socket.gaierror:
                    time.sleep(0.25)
        """)
        program = ExecInNamespace(ns, lookup, options=("--quiet", "--dns", KERNEL_IP))
        dnsmasq = ns.popen(["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv",
                            "--no-hosts", "--port=53", f"--listen-address={KERNEL_IP}",
                            "--bind-interfaces", "--address=/lab.example/203.0.113.7",
                            f"--pid-file={tmp_path / 'dnsmasq.pid'}", "--log-facility=-",
                            "--user=root", "--group=root"])
        drain_in_background(dnsmasq)
        assert program.finish(30) == 0, program.text
        assert "address 203.0.113.7" in program.text


def test_tls_handshake_and_request_to_a_kernel_side_ssl_server(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=lab.example", "-addext", "subjectAltName=DNS:lab.example",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    with Namespace("nse") as ns:
        server = ns.popen([sys.executable, script(tmp_path, "tls_server.py", f"""
            import socket, ssl
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain({str(cert)!r}, {str(key)!r})
            with socket.create_server(("0.0.0.0", 8443)) as listener:
                print("listening", flush=True)
                raw, _ = listener.accept()
                with context.wrap_socket(raw, server_side=True) as tls:
                    request = tls.recv(100)
                    tls.sendall(b"kernel TLS says hello to " + request)
        """)])
        output = drain_in_background(server)
        wait_until(lambda: "listening" in output, 10, what="the kernel's TLS server")
        program = ExecInNamespace(ns, script(tmp_path, "tls_client.py", f"""
            import socket, ssl, time
            context = ssl.create_default_context(cafile={str(cert)!r})
            for attempt in range(20):  # until our TAP is up on the kernel's side
                try:
                    raw = socket.create_connection(("192.0.2.1", 8443), timeout=2)
                    break
                except OSError:
                    time.sleep(0.25)
            with context.wrap_socket(raw, server_hostname="lab.example") as tls:
                tls.sendall(b"netstack")
                print(tls.version(), tls.recv(100))
        """), options=("--quiet",))
        assert program.finish(30) == 0, program.text
        assert "kernel TLS says hello to netstack" in program.text
