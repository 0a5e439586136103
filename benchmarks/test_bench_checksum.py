"""pytest-benchmark: native internet_checksum against the pure-Python reference.

Run with `.venv/bin/pytest benchmarks/`. These measure; they never assert a speed. One group
per buffer size, so each size's native and Python figures sit side by side.
"""

from __future__ import annotations

import os

import pytest

from netstack import native
from netstack.checksum import py_internet_checksum

if not native.BUILT:
    pytest.skip("native module not built (make native)", allow_module_level=True)
from netstack.native.checksum import internet_checksum  # noqa: E402

# A minimal frame, the classic IPv4 minimum reassembly size, and a full Ethernet MTU.
SIZES = (64, 576, 1500)


@pytest.fixture(params=SIZES, ids=[f"{size}B" for size in SIZES])
def buffer(request: pytest.FixtureRequest) -> bytes:
    return os.urandom(request.param)


def test_native_checksum(benchmark, buffer: bytes) -> None:
    benchmark.group = f"checksum {len(buffer)} B"
    benchmark.extra_info["bytes"] = len(buffer)
    assert benchmark(internet_checksum, buffer) == py_internet_checksum(buffer)


def test_python_checksum(benchmark, buffer: bytes) -> None:
    benchmark.group = f"checksum {len(buffer)} B"
    benchmark.extra_info["bytes"] = len(buffer)
    assert benchmark(py_internet_checksum, buffer) == py_internet_checksum(buffer)
