"""The real-tool step of a lab: the student's stack against the Linux kernel, and evidence.

`netstack lab real N` runs labs/NN/real/check.py as root. It builds a RealBench: a fresh
network namespace whose kernel is 192.0.2.1 on a TAP, and `netstack run` as 192.0.2.2 on
that TAP, made with the student's units (LAB_IMPL_ARGS) and capturing every frame. The
check drives real tools (ping, arping, nc, curl...) inside the namespace and records what
it saw in an Evidence folder:

    evidence.json   {"lab", "impl", "checks": [{"name", "passed", "detail"}], "files": {name: sha256}}
    *.pcap, *.txt   the capture, the tools' output, the stack's counters

The grader re-verifies that folder offline, with no root and no network
(`netstack lab verify N FOLDER`): the files' sha256 values, then the lab's own
real/verify.py, which re-reads the pcap to confirm what the checks claim.

    with RealBench(evidence) as bench:
        ping = bench.run("ping", "-c", "3", "-W", "2", bench.stack_ip)
        evidence.check("the kernel pings the stack", ping.returncode == 0, ping.stdout)
    evidence.save()

Environment, set by the grader: LAB_IMPL_ARGS ("--impl arp=arp:ArpStage ...", empty for
the reference), PYTHONPATH (the student's folder first), EVIDENCE (the folder to fill),
LAB_IMPL_KIND ("student" or "reference").
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from netstack.netns import Namespace, is_root, unique_name, wait_for_line

KERNEL_CIDR = "192.0.2.1/24"
KERNEL_IP = "192.0.2.1"
STACK_CIDR = "192.0.2.2/24"
STACK_IP = "192.0.2.2"
STACK_MAC = "02:00:c0:00:02:02"


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_report(text: str) -> dict[str, str]:
    """The `result key=value ...` line a real step's helper client prints, as a dict."""
    for line in text.splitlines():
        if line.startswith("result "):
            return dict(part.split("=", 1) for part in line.split()[1:])
    return {}


class Evidence:
    """The evidence folder of one real-tool run."""

    def __init__(self, folder: str | None = None, lab: int | None = None) -> None:
        self.folder = folder or os.environ.get("EVIDENCE") or "evidence"
        os.makedirs(self.folder, exist_ok=True)
        self.lab = lab
        self.impl = os.environ.get("LAB_IMPL_KIND", "reference")
        self.checks: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    def write_text(self, name: str, text: str) -> str:
        with open(self.path(name), "w", encoding="utf-8") as f:
            f.write(text)
        return self.path(name)

    def check(self, name: str, passed: bool, detail: str = "") -> bool:
        """Record one check; prints it as it goes (the real step can take a while)."""
        self.checks.append({"name": name, "passed": bool(passed), "detail": detail[-2000:]})
        print(f"{'ok  ' if passed else 'FAIL'} {name}", flush=True)
        return bool(passed)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c["passed"] for c in self.checks)

    def save(self) -> int:
        """Write evidence.json (with every file's sha256); the exit status for the check."""
        files = {name: sha256_file(self.path(name)) for name in sorted(os.listdir(self.folder))
                 if name != "evidence.json" and os.path.isfile(self.path(name))}
        record = {"lab": self.lab, "impl": self.impl, "checks": self.checks, "files": files,
                  **self.extra}
        with open(self.path("evidence.json"), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2, sort_keys=True)
        return 0 if self.passed else 1


def load_evidence(folder: str) -> tuple[dict[str, Any], list[str]]:
    """evidence.json and the problems found re-checking its files' sha256 values."""
    path = os.path.join(folder, "evidence.json")
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError) as exc:
        return {}, [f"{path}: cannot read it ({exc})"]
    problems = []
    for name, digest in record.get("files", {}).items():
        file = os.path.join(folder, name)
        if not os.path.exists(file):
            problems.append(f"{name} is listed but missing")
        elif sha256_file(file) != digest:
            problems.append(f"{name} was changed after the run (sha256 differs)")
    if not record.get("checks"):
        problems.append("no checks recorded")
    problems += [f"check failed: {c['name']}" for c in record.get("checks", []) if not c["passed"]]
    return record, problems


class RealBench:
    """A namespace with the kernel at 192.0.2.1 on a TAP and `netstack run` at 192.0.2.2."""

    def __init__(self, evidence: Evidence, *stack_args: str, capture: str = "stack.pcap",
                 ready_timeout: float = 20.0) -> None:
        if not is_root():
            raise SystemExit("the real-tool step needs root (network namespaces and a TAP)")
        self.evidence = evidence
        self.tap = unique_name("lt")
        self.capture = evidence.path(capture)
        self.stack_ip, self.kernel_ip, self.mac = STACK_IP, KERNEL_IP, STACK_MAC
        impl = shlex.split(os.environ.get("LAB_IMPL_ARGS", ""))
        self.args = ["--port", f"tap:{self.tap}", "--ip", STACK_CIDR, "--mac", STACK_MAC,
                     "--capture", self.capture, *impl, *stack_args]
        self.ready_timeout = ready_timeout
        self.ns = Namespace("nslab")
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    def __enter__(self) -> RealBench:
        self.ns.__enter__()
        try:
            self.proc = self.start_stack()
            wait_for_line(self.proc, "ready", timeout=self.ready_timeout)
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
            self.ns.add_address(self.tap, KERNEL_CIDR)
            self.ns.link_up(self.tap)
        except BaseException:
            self.ns.close()
            raise
        return self

    def start_stack(self) -> subprocess.Popen[bytes]:
        """The stack's process in the namespace; it prints a line starting "ready" once its
        TAP exists. AppBench starts an application on a netstack Host instead."""
        return self.ns.popen([sys.executable, "-m", "netstack", "run", *self.args])

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                self.lines.append(raw.decode(errors="replace").rstrip())
        except (OSError, ValueError):
            pass

    def run(self, *cmd: str, timeout: float = 60, input: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        """A command in the namespace (the kernel's side); never raises on a timeout, so one
        stuck tool fails its check instead of the whole step."""
        wrapped = ["ip", "netns", "exec", self.ns.name, *cmd]
        try:
            return subprocess.run(wrapped, capture_output=True, text=True, timeout=timeout,
                                  input=input, check=False)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(list(cmd), 124, "",
                                               f"{cmd[0]} timed out after {timeout:g} s")

    def stop(self) -> dict[str, int]:
        """Ctrl-C the stack; its counters go to counters.txt and come back as a dict."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(5)
        output = "\n".join(self.lines)
        self.evidence.write_text("stack-output.txt", output + "\n")
        counters = {}
        for line in output.splitlines():
            parts = line.split()
            if len(parts) == 2 and "." in parts[0] and parts[1].isdigit():
                counters[parts[0]] = int(parts[1])
        return counters

    def __exit__(self, *exc_info: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        self.ns.close()


class AppBench(RealBench):
    """A RealBench whose stack is an application script (a netstack Host built with the
    student's units, e.g. labs/00/real/app.py) started as `python APP TAP CAPTURE`. The
    script reads command lines on stdin and answers each with a line starting "reply"."""

    def __init__(self, evidence: Evidence, app: str, **kwargs: Any) -> None:
        super().__init__(evidence, **kwargs)
        self.app = app

    def start_stack(self) -> subprocess.Popen[bytes]:
        return self.ns.popen([sys.executable, self.app, self.tap, self.capture],
                             stdin=subprocess.PIPE)

    def ask_app(self, line: str, timeout: float = 10.0) -> str:
        """Send a command line to the app and return its next "reply" line (polled with a
        deadline; an app that never answers gives a "reply-error" line, not a hang)."""
        assert self.proc is not None and self.proc.stdin is not None
        seen = len(self.lines)
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for text in self.lines[seen:]:
                if text.startswith("reply"):
                    return text
            time.sleep(0.05)
        return f"reply-error: no answer from the app within {timeout:g} s"
