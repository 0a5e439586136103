"""Two stacks on one memory cable: `ours` runs the patched standard library (as a program
under `netstack exec` does), `peer` is driven through netstack.api directly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from netstack.api import Host
from netstack.compat import patch

OURS_IP = "192.0.2.2"
PEER_IP = "192.0.2.3"


@dataclass
class Pair:
    ours: Any
    peer: Any


@pytest.fixture
def patched():
    cable = f"memory:compat-{uuid.uuid4().hex[:8]}"
    ours = Host.open(cable, f"{OURS_IP}/24")
    peer = Host.open(cable, f"{PEER_IP}/24")
    patch.patch_all(ours)
    try:
        yield Pair(ours, peer)
    finally:
        patch.unpatch_all()
        ours.close()
        peer.close()
