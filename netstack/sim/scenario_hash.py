"""One canonical text for a scenario, and the hash that names its run directory."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def scenario_hash(scenario: dict) -> str:
    return hashlib.sha256(canonical_json(scenario).encode()).hexdigest()[:16]
