"""Shared test setup: the `root` marker and namespace fixtures (see tests/netns.py)."""

import os
import shutil

import pytest

ROOT_SKIP_REASON = "needs root and iproute2: creates network namespaces and TAP/veth devices"


def can_use_namespaces() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None and os.path.exists("/dev/net/tun")


def pytest_collection_modifyitems(config, items):
    """Tests marked `@pytest.mark.root` are skipped, with the reason, when we are not root."""
    if can_use_namespaces():
        return
    skip = pytest.mark.skip(reason=ROOT_SKIP_REASON)
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def netns():
    """A fresh, uniquely named network namespace, deleted (with its devices and the
    processes started in it) after the test, pass or fail."""
    if not can_use_namespaces():
        pytest.skip(ROOT_SKIP_REASON)
    from tests.netns import Namespace

    with Namespace("t") as ns:
        yield ns


# Under CI, hypothesis draws the same examples every run, so main stays green or red for a
# reason in the code; on a developer's machine it keeps exploring new random examples.
if os.environ.get("CI"):
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, deadline=None)
    settings.load_profile("ci")
