"""What `netstack run --port dpdk:...` says when it cannot run: one line, exit status 2.

DPDK not installed (simulated by hiding the binding), an EAL argument it rejects (named),
a vdev with no driver, a device the driver cannot create, and no permission.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.dpdk.dpdk_support import LOOPBACK, requires_dpdk, requires_root
from tests.netns import unique_name

EXIT_USAGE = 2
DEFAULTS = "--no-huge --no-pci --no-shconf -m 256 -l 0"

# `netstack run` with the DPDK binding made unimportable, as on a machine without DPDK.
WITHOUT_BINDING = """
import sys
sys.modules["netstack.native._dpdk"] = None
from netstack.cli import main
sys.exit(main(sys.argv[1:]))
"""


def netstack_run(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-m", "netstack", "run",
                           "--ip", "192.0.2.2/24", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == EXIT_USAGE, result.stdout + result.stderr
    assert "ready" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netstack: error: "), result.stderr
    return lines[0]


def test_without_dpdk_the_error_says_how_to_install_it():
    result = subprocess.run([sys.executable, "-c", WITHOUT_BINDING, "run", "--ip", "192.0.2.2/24",
                             "--port", f"dpdk:{LOOPBACK}"],
                            capture_output=True, text=True, timeout=60, check=False)
    line = one_line_error(result)
    assert "DPDK binding is not built" in line and "libdpdk-dev" in line, line


def test_eal_flag_is_refused_for_other_ports():
    line = one_line_error(netstack_run("--port", "tap:x", "--eal=-l 0"))
    assert "--eal applies only to dpdk: ports" in line


@requires_dpdk
@pytest.mark.parametrize(("eal", "named"), [
    (f"{DEFAULTS} --no-such-option", "unknown EAL argument '--no-such-option'"),
    ("--no-huge --no-pci --no-shconf -m 256 -l 1000", "argument '-l 1000'"),
])
def test_eal_init_failure_names_the_argument(eal, named):
    line = one_line_error(netstack_run("--port", f"dpdk:{LOOPBACK}", f"--eal={eal}"))
    assert "DPDK EAL init failed" in line and named in line, line


@requires_dpdk
def test_a_vdev_without_a_driver_is_named():
    line = one_line_error(netstack_run("--port", "dpdk:net_nosuchdriver0"))
    assert "no DPDK driver for vdev 'net_nosuchdriver0'" in line, line


@requires_dpdk
@requires_root
def test_a_device_the_driver_cannot_create_says_why(netns):
    missing = unique_name("no")
    line = one_line_error(netstack_run("--port", f"dpdk:net_af_packet0,iface={missing}",
                                       prefix=("ip", "netns", "exec", netns.name)))
    assert "DPDK could not create the device" in line and "No such device" in line, line


@requires_dpdk
@requires_root
def test_without_root_the_tap_pmd_reports_permission_denied(netns):
    unprivileged = ("ip", "netns", "exec", netns.name,
                    "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    can_run = subprocess.run([*unprivileged, sys.executable, "-c", "import netstack.cli"],
                             capture_output=True, timeout=60, check=False)
    if can_run.returncode != 0:
        pytest.skip("user nobody cannot run this checkout's Python (a private directory?)")
    line = one_line_error(netstack_run("--port", f"dpdk:net_tap0,iface={unique_name('dt')}",
                                       prefix=unprivileged))
    assert "permission denied" in line and "root" in line, line


@requires_dpdk
def test_an_mtu_bigger_than_one_mbuf_is_refused():
    line = one_line_error(netstack_run("--port", f"dpdk:{LOOPBACK}", "--mtu", "9000"))
    assert "MTU 9000 does not fit one mbuf" in line, line


def test_eal_arguments_survive_print_config_and_back(tmp_path):
    """--eal is a setting like any other: --print-config writes it, --config reads it."""
    eal = "--no-huge --no-pci --no-shconf -m 128 -l 0 --log-level=*:warning"
    printed = netstack_run("--port", f"dpdk:{LOOPBACK}", f"--eal={eal}", "--print-config")
    assert printed.returncode == 0, printed.stderr
    config = tmp_path / "dpdk.toml"
    config.write_text(printed.stdout)
    again = subprocess.run([sys.executable, "-m", "netstack", "run", "--config", str(config),
                            "--print-config"], capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0, again.stderr
    assert again.stdout == printed.stdout
    assert "eal = \"--no-huge --no-pci --no-shconf -m 128 -l 0 '--log-level=*:warning'\"" in again.stdout
