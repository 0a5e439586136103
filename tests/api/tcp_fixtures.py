"""Two Hosts with TCP on one memory cable (no root), for the TCP socket and service tests."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from netstack.api import Host
from netstack.api import constants as api_constants
from netstack.stages.tcp.config import TcpConfig
from tests.netns import unique_name

CLIENT_IP = "192.0.2.1"
SERVER_IP = "192.0.2.2"
# Short enough that failure paths (retries, TIME-WAIT) end within a test.
TEST_TCP_CONFIG = TcpConfig(msl=1.0, initial_rto=0.2, min_rto=0.05, max_retries=3,
                            syn_retries=2, fin_wait_2_timeout=2.0)
TIMEOUT = 10.0  # what a test waits for the other side, at most


@dataclasses.dataclass
class TcpPair:
    client: Host
    server: Host


def open_pair(prefix: str, config: TcpConfig = TEST_TCP_CONFIG) -> list[Host]:
    cable = unique_name(prefix)
    opened: list[Host] = []
    try:
        for ip in (CLIENT_IP, SERVER_IP):
            opened.append(Host.open(f"memory:{cable}", f"{ip}/24", pool_size=4096, tcp=config))
    except BaseException:
        for host in opened:
            host.close()
        raise
    return opened


@pytest.fixture
def tcp_hosts() -> Iterator[TcpPair]:
    opened = open_pair("tcp")
    try:
        yield TcpPair(*opened)
    finally:
        for host in opened:
            host.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """For state nothing notifies us about (counters, another thread's progress)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


def run_in_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Start fn on a thread; the returned function joins it and returns (or raises) its
    result, failing if it did not finish within TIMEOUT."""
    result: dict[str, Any] = {}

    def main() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the joining thread
            result["error"] = exc

    thread = threading.Thread(target=main, daemon=True)
    thread.start()

    def join() -> Any:
        thread.join(TIMEOUT)
        if thread.is_alive():
            raise AssertionError(f"{fn} did not finish within {TIMEOUT} s")
        if "error" in result:
            raise result["error"]
        return result.get("value")

    return join


@dataclasses.dataclass
class Connection:
    """Both ends of one established connection, and the listener that accepted it."""

    listener: Any
    client: Any
    server: Any

    def close(self) -> None:
        for sock in (self.client, self.server, self.listener):
            sock.close()


def connect_pair(pair: TcpPair, port: int = 7000) -> Connection:
    listener = pair.server.socket(api_constants.AF_INET, api_constants.SOCK_STREAM)
    listener.bind(("0.0.0.0", port))
    listener.listen(8)
    listener.settimeout(TIMEOUT)
    client = pair.client.socket(api_constants.AF_INET, api_constants.SOCK_STREAM)
    client.settimeout(TIMEOUT)
    client.connect((SERVER_IP, port))
    server, _peer = listener.accept()
    server.settimeout(TIMEOUT)
    return Connection(listener, client, server)


@pytest.fixture
def connection(tcp_hosts: TcpPair) -> Iterator[Connection]:
    conn = connect_pair(tcp_hosts)
    try:
        yield conn
    finally:
        conn.close()


def recv_all(sock: Any) -> bytes:
    """Everything until EOF."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
