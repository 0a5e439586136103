"""iperf3 against the real iperf3 (Debian's), the Linux kernel on the other side (root only).

The kernel's `iperf3 -c` against `netstack run --service iperf3:5201` (TCP, -R, UDP), and
`netstack iperf3 -c` against the kernel's `iperf3 -s -1`. Both sides' byte counts agree
but for what is in flight when the test ends.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.interop.kernel_peer import STACK_IP, KernelPeer, requires_root
from tests.netns import Namespace, unique_name, wait_until

pytestmark = [requires_root, pytest.mark.root,
              pytest.mark.skipif(shutil.which("iperf3") is None,
                                 reason="iperf3 is not installed (make setup installs it)")]

IN_FLIGHT = 4 * 1024 * 1024  # bytes that may be in buffers when the sender stops


def kernel_client(bench: KernelPeer, *options: str) -> dict:
    done = bench.run("iperf3", "-c", STACK_IP, "-t", "3", "-J", *options, timeout=30)
    report = json.loads(done.stdout)
    assert "error" not in report, report.get("error")
    return report["end"]


@pytest.mark.parametrize("options", [(), ("-R",), ("-P", "2")], ids=["tcp", "reverse", "parallel"])
def test_the_kernels_iperf3_client_against_netstacks_server_tcp(tmp_path, options):
    with KernelPeer(tmp_path, "--service", "iperf3:5201") as bench:
        end = kernel_client(bench, *options)
        sent, received = end["sum_sent"]["bytes"], end["sum_received"]["bytes"]
        assert sent > 1_000_000
        assert sent - IN_FLIGHT <= received <= sent, (sent, received)
        if "-R" in options:  # netstack sent: its TCP_INFO's retransmits reached iperf3
            assert end["sum_sent"]["retransmits"] >= 0
        counters = bench.stop()
    assert counters["tcp.conn.passive_open"] >= 2, "a control and a data connection"


def test_the_kernels_iperf3_client_against_netstacks_server_udp(tmp_path):
    with KernelPeer(tmp_path, "--service", "iperf3:5201") as bench:
        end = kernel_client(bench, "-u", "-b", "10M")
        assert end["sum"]["lost_packets"] == 0 and end["sum"]["packets"] > 1000
        assert 9e6 < end["sum"]["bits_per_second"] < 11e6
        bench.stop()


@pytest.mark.parametrize("options", [(), ("-R",), ("-u", "-b", "10M")],
                         ids=["tcp", "reverse", "udp"])
def test_netstacks_client_against_the_kernels_iperf3_server(options):
    tap = unique_name("ipc")
    with Namespace("nsipf") as ns:
        server = ns.popen(["iperf3", "-s", "-1", "-J"])  # -J: one report, at the end
        client = ns.popen([sys.executable, "-m", "netstack", "iperf3", "--port", f"tap:{tap}",
                           "--ip", "192.0.2.2/24", "-c", "192.0.2.1", "-t", "2", "-J",
                           *options], stderr=subprocess.PIPE)
        wait_until(lambda: client.poll() is not None or ns.has_link(tap), timeout=20,
                   what="the client's TAP")
        ns.add_address(tap, "192.0.2.1/24")
        ns.link_up(tap)
        out, err = client.communicate(timeout=60)
        assert client.returncode == 0, err.decode()
        ours = json.loads(out)["end"]
        theirs = json.loads(server.communicate(timeout=20)[0])["end"]
    sent, received = ours["sum_sent"]["bytes"], ours["sum_received"]["bytes"]
    if "-u" in options:
        assert sent == received and theirs["sum"]["lost_packets"] == 0
        assert theirs["sum_received"]["bytes"] == sent, "the kernel's count is ours"
    else:
        assert sent - IN_FLIGHT <= received <= sent
        kernel_side = theirs["sum_received"]["bytes"] if "-R" not in options \
            else theirs["sum_sent"]["bytes"]
        assert kernel_side == (received if "-R" not in options else sent), \
            "the kernel's own report has the same bytes as ours"
