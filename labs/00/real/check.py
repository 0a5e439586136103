"""Lab 0's real-tool step (root): the student's webget on a netstack stack fetches files
from `python3 -m http.server` on the Linux kernel.

In a fresh namespace, app.py runs a netstack Host at 192.0.2.2 on a TAP (every frame
captured) and calls the student's webget (labs.kit.student_module) when asked; the kernel
is 192.0.2.1 and serves a folder with http.server on port 8000. Then:

1. curl on the kernel side fetches the file from http.server (the served bytes' sha256);
2. webget on the stack fetches /lab0.bin (300 KB of random bytes): same sha256;
3. webget fetches a path that does not exist: HttpError with status 404.

Evidence: stack.pcap, fetched.bin, tools.txt, the stack's counters; verify.py re-reads the
pcap and rebuilds the HTTP exchange from it.
"""

from __future__ import annotations

import os
import sys
import tempfile

from labs.kit.real import KERNEL_IP, AppBench, Evidence, sha256_file
from netstack.netns import wait_for_line

HERE = os.path.dirname(os.path.abspath(__file__))
HTTP_PORT = 8000
FILE_NAME = "lab0.bin"
FILE_SIZE = 300_000


def main() -> int:
    evidence = Evidence(lab=0)
    with tempfile.TemporaryDirectory(prefix="lab0-www-") as www:
        served = os.path.join(www, FILE_NAME)
        with open(served, "wb") as f:
            f.write(os.urandom(FILE_SIZE))
        digest = sha256_file(served)
        evidence.extra.update({"served_sha256": digest, "served_size": FILE_SIZE,
                               "path": f"/{FILE_NAME}", "port": HTTP_PORT})
        try:
            run(evidence, www, digest)
        except Exception as exc:  # noqa: BLE001 - recorded as a failed check, with its reason
            evidence.check("the stack ran webget until the end of the step", False,
                           f"{type(exc).__name__}: {exc}")
    return evidence.save()


def run(evidence: Evidence, www: str, digest: str) -> None:
    log = []
    fetched = evidence.path("fetched.bin")
    with AppBench(evidence, os.path.join(HERE, "app.py")) as bench:
        server = bench.ns.popen([sys.executable, "-u", "-m", "http.server", str(HTTP_PORT),
                                 "--bind", KERNEL_IP, "--directory", www])
        wait_for_line(server, "Serving HTTP", timeout=10)

        url = f"http://{KERNEL_IP}:{HTTP_PORT}/{FILE_NAME}"
        curl = bench.run("sh", "-c", f"curl -sS --max-time 10 {url} | sha256sum", timeout=20)
        log.append(f"$ curl -sS {url} | sha256sum   (the kernel fetching from itself)\n"
                   f"{curl.stdout}{curl.stderr}")
        evidence.check("curl on the kernel side gets the served file (the server works)",
                       curl.stdout.split()[:1] == [digest], curl.stdout + curl.stderr)

        reply = bench.ask_app(f"get {KERNEL_IP} {HTTP_PORT} /{FILE_NAME} {fetched}", timeout=30)
        log.append(f"app.py: webget.get(host, '{KERNEL_IP}', '/{FILE_NAME}', {HTTP_PORT})\n"
                   f"{reply}")
        evidence.check("webget on the stack fetches the file: same size and sha256",
                       reply == f"reply: got {FILE_SIZE} bytes sha256 {digest}",
                       f"{reply} (served: {FILE_SIZE} bytes sha256 {digest})")

        missing = bench.ask_app(f"get {KERNEL_IP} {HTTP_PORT} /no-such-file "
                                f"{evidence.path('missing.bin')}", timeout=30)
        log.append(f"app.py: webget.get(host, '{KERNEL_IP}', '/no-such-file', {HTTP_PORT})\n"
                   f"{missing}")
        evidence.check("webget raises HttpError with status 404 for a missing file",
                       missing.startswith("reply-error: HttpError") and "[status 404]" in missing,
                       missing)
        server.terminate()
        server.wait(timeout=10)
        access_log = server.stdout.read().decode(errors="replace") if server.stdout else ""
        log.append("http.server's log:\n" + access_log)
        bench.stop()
    evidence.write_text("tools.txt", "\n\n".join(log) + "\n")
    got = sha256_file(fetched) if os.path.exists(fetched) else "(no file)"
    evidence.check("fetched.bin's sha256 is the served file's", got == digest, got)
    sys.path.insert(0, HERE)
    from verify import check_capture

    problems = check_capture(evidence.folder, evidence.extra)
    evidence.check("the capture shows the exchange (verify.py)", not problems,
                   "; ".join(problems))
    return None


if __name__ == "__main__":
    sys.exit(main())
