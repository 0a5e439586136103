"""`make demo` is the first thing a new user runs: it must show the stack working."""

import subprocess
import sys

from tests.interop.kernel_peer import requires_root


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netstack", "demo", "--count", "3", *args],
                          capture_output=True, text=True, timeout=120)


@requires_root
def test_demo_shows_the_kernel_pinging_the_stack():
    result = _demo()
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count(" 0% packet loss") == 2, out
    assert "4008 bytes from 192.0.2.2" in out, "the 4000-byte pings must be answered"
    assert "192.0.2.2 lladdr 02:00:c0:00:02:02" in out, "ip neigh must show the stack's MAC"
    assert "icmp.tx.echo_reply" in out, "the stack's counters are printed at the end"
    assert "namespace removed" in out


def test_demo_in_memory_needs_no_root():
    result = _demo("--memory")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in-memory link" in result.stdout
    assert "received=3" in result.stdout or "3 received" in result.stdout, result.stdout
