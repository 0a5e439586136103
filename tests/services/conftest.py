"""Two in-process hosts on one memory cable: no root, no kernel.

    server (192.0.2.2) runs the service under test; client (192.0.2.1) talks to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.tcp_fixtures import connection, tcp_hosts  # noqa: F401 - TCP fixtures
from tests.netns import unique_name

SERVER_IP = "192.0.2.2"
CLIENT_IP = "192.0.2.1"


@dataclass
class Pair:
    server: Any
    client: Any


@pytest.fixture
def hosts() -> Iterator[Pair]:
    api = pytest.importorskip("netstack.api")
    if not hasattr(api, "Host"):
        pytest.skip("netstack.api.Host is not in this checkout yet")
    cable = unique_name("svc")
    opened = []
    try:
        for ip in (SERVER_IP, CLIENT_IP):
            opened.append(api.Host.open(f"memory:{cable}", f"{ip}/24"))
        yield Pair(server=opened[0], client=opened[1])
    finally:
        for host in opened:
            host.close()
