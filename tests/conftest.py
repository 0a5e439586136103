"""Shared test setup: the `root` marker, namespace fixtures (see tests/netns.py), and
`--impl`, which grades a replacement unit with the unit's own tests:

    pytest tests/stages/test_arp.py --impl arp_table=mylab.table:ArpTable

Every stack the stage tests build (tests/stages/common.py) is then made with that unit, and
the checksum and codec tests call the unit through the `units` fixture.
"""

import os
import shutil

import pytest

from netstack.units import ImplError, parse_impl_argument, resolve_units
from tests.stages import common as stage_common

IMPL_KEY = pytest.StashKey[dict]()


def pytest_addoption(parser):
    parser.addoption(
        "--impl", action="append", default=[], metavar="UNIT=package.module:Attr",
        help="test this implementation of UNIT instead of the reference (repeatable); "
             "units are listed in netstack/units.py",
    )


def pytest_configure(config):
    """A bad --impl stops the run with one line (pytest's usage error), before any test."""
    try:
        impl = dict(parse_impl_argument(text) for text in config.getoption("--impl"))
        resolve_units(impl)
    except ImplError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[IMPL_KEY] = impl
    stage_common.GRADED_IMPL.update(impl)  # the stage tests' make_stack uses it


def pytest_report_header(config):
    impl = config.stash.get(IMPL_KEY, {})
    if impl:
        return "units under test: " + ", ".join(f"{k}={v}" for k, v in sorted(impl.items()))
    return None


@pytest.fixture(scope="session")
def impl(pytestconfig) -> dict:
    """The replacements --impl named, as StackConfig(impl=...) takes them ({} by default)."""
    return dict(pytestconfig.stash[IMPL_KEY])


@pytest.fixture(scope="session")
def units(impl):
    """Every unit's implementation under test (`units.checksum`, `units.ipv4_codec`...)."""
    return resolve_units(impl)

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
