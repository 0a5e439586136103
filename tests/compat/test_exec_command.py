"""`netstack exec` as a user runs it: a script or a module, its arguments, its exit status."""

from __future__ import annotations

import subprocess
import sys
import uuid

SCRIPT = """
import socket, sys
from netstack.compat import patch
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("192.0.2.2", 5353))
print("patched", patch.is_patched("socket", "socket"), sock.fileno() >= 2**31,
      sock.getsockname(), sys.argv[1:])
sys.exit(int(sys.argv[-1]))
"""


def netstack_exec(*args: str, module: bool = False) -> subprocess.CompletedProcess[str]:
    entry = ["-m", "netstack.exec"] if module else ["-m", "netstack", "exec"]
    return subprocess.run([sys.executable, *entry, *args], capture_output=True, text=True,
                          timeout=60)


def test_a_script_runs_on_the_stack_with_its_own_arguments_and_exit_status(tmp_path):
    script = tmp_path / "program.py"
    script.write_text(SCRIPT)
    port = f"memory:exec-{uuid.uuid4().hex[:6]}"
    done = netstack_exec("--port", port, "--ip", "192.0.2.2/24", str(script), "--ip", "3")
    assert done.returncode == 3, done.stderr
    assert "patched True True ('192.0.2.2', 5353) ['--ip', '3']" in done.stdout, \
        "the program's --ip is its own, not netstack's"
    assert "counters:" in done.stderr and "arp.tx.gratuitous 1" in done.stderr


def test_python_m_netstack_exec_runs_a_module(tmp_path):
    (tmp_path / "lesson.py").write_text(SCRIPT)
    done = subprocess.run([sys.executable, "-m", "netstack.exec", "--quiet", "--port",
                           f"memory:exec-{uuid.uuid4().hex[:6]}", "--ip", "192.0.2.2/24",
                           "-m", "lesson", "0"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "patched True True" in done.stdout and "counters:" not in done.stderr


def test_usage_errors_are_one_line_with_status_two(tmp_path):
    no_program = netstack_exec("--port", "memory:x", "--ip", "192.0.2.2/24")
    assert no_program.returncode == 2 and "give -m MODULE or SCRIPT" in no_program.stderr
    script = tmp_path / "x.py"
    script.write_text("print('never run')")
    bad_ip = netstack_exec("--port", "memory:x", "--ip", "not-an-address", str(script))
    assert bad_ip.returncode == 2 and len(bad_ip.stderr.strip().splitlines()) == 1
    missing = netstack_exec("--quiet", "--port", "memory:x", "--ip", "192.0.2.2/24",
                            str(tmp_path / "absent.py"))
    assert missing.returncode == 1 and missing.stderr == \
        f"netstack exec: can't open file '{tmp_path / 'absent.py'}'\n", "said before any stack"
    no_module = netstack_exec("--port", "memory:x", "--ip", "192.0.2.2/24", "-m", "no_such_mod")
    assert no_module.returncode == 1 and no_module.stderr == \
        "netstack exec: no module named no_such_mod\n"
