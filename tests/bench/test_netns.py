"""netstack.netns: waits have deadlines, namespaces and their processes always go away."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from netstack.netns import Namespace, NamespaceError, is_root, unique_name, wait_for_line

needs_root = pytest.mark.skipif(not is_root(), reason="needs root (network namespaces)")


def python(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-u", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def test_wait_for_line_returns_the_matching_line() -> None:
    proc = python("print('starting'); print('ready on tap0'); import time; time.sleep(5)")
    try:
        assert wait_for_line(proc, "ready", timeout=10) == "ready on tap0"
    finally:
        proc.kill()
        proc.wait()


def test_wait_for_line_times_out_with_the_output_so_far() -> None:
    proc = python("print('still booting', flush=True); import time; time.sleep(30)")
    try:
        started = time.monotonic()
        with pytest.raises(NamespaceError, match="within 0.5 s.*still booting"):
            wait_for_line(proc, "ready", timeout=0.5)
        assert time.monotonic() - started < 5
    finally:
        proc.kill()
        proc.wait()


def test_wait_for_line_reports_an_early_exit() -> None:
    proc = python("import sys; print('no tun device'); sys.exit(3)")
    with pytest.raises(NamespaceError, match="exited with 3.*no tun device"):
        wait_for_line(proc, "ready", timeout=10)


def test_wait_for_line_accepts_a_last_line_without_newline() -> None:
    proc = python("import sys; sys.stdout.write('ready')")
    assert wait_for_line(proc, "ready", timeout=10) == "ready"
    proc.wait()


def test_unique_names_fit_an_interface_name() -> None:
    names = {unique_name("a-rather-long-prefix") for _ in range(20)}
    assert len(names) == 20 and all(len(n) <= 15 for n in names)


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@pytest.mark.root
@needs_root
def test_namespace_and_its_processes_are_removed_even_after_an_error() -> None:
    with pytest.raises(RuntimeError), Namespace("nstest") as ns:
        assert ns.name in namespaces()
        assert "UP" in ns.run(["ip", "link", "show", "lo"]).stdout
        sleeper = ns.popen(["sleep", "60"])
        raise RuntimeError("boom")
    assert ns.name not in namespaces()
    assert sleeper.returncode is not None


@pytest.mark.root
@needs_root
def test_run_raises_with_the_command_output() -> None:
    with Namespace("nstest") as ns, pytest.raises(NamespaceError, match="exited 1"):
        ns.run(["ip", "link", "show", "dev", "no-such-dev"])
