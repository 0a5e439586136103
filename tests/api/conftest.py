"""Two Hosts joined by an in-memory cable (no root): 192.0.2.1 (`a`) and 192.0.2.2 (`b`)."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from netstack.api import Host
from tests.api.tcp_fixtures import connection, tcp_hosts  # noqa: F401 - TCP fixtures
from tests.netns import unique_name

A_IP = "192.0.2.1"
B_IP = "192.0.2.2"


@dataclass
class Pair:
    a: Host
    b: Host


@pytest.fixture
def hosts():
    cable = unique_name("api")
    opened = []
    try:
        for ip in (A_IP, B_IP):
            opened.append(Host.open(f"memory:{cable}", f"{ip}/24", pool_size=1024))
        yield Pair(*opened)
    finally:
        for host in opened:
            host.close()


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """For state nothing notifies us about (counters): look until true or the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True
