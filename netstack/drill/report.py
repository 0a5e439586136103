"""What a drill run reports: one line per script, a summary, JUnit XML, and a pcap of
each script that failed (every frame in and out, at its virtual time)."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree as ET

from netstack.drill.runner import Result
from netstack.engine.pcapfile import PcapWriter

MARK = {"pass": "PASS", "fail": "FAIL", "unsupported": "UNSUPPORTED", "error": "ERROR"}


def line_for(result: Result) -> str:
    text = f"{MARK[result.status]:<11} {result.path}"
    if not result.passed:
        where = f" (line {result.line})" if result.line else ""
        first = result.message.split("\n", 1)[0]
        text += f"{where}: {first}"
    return text


def summary(results: list[Result]) -> str:
    counts = {status: sum(r.status == status for r in results) for status in MARK}
    virtual = sum(r.virtual_seconds for r in results)
    wall = sum(r.seconds for r in results)
    parts = [f"{counts['pass']} passed", f"{counts['fail']} failed"]
    if counts["unsupported"]:
        parts.append(f"{counts['unsupported']} unsupported")
    if counts["error"]:
        parts.append(f"{counts['error']} errors")
    return (f"drill: {', '.join(parts)} ({len(results)} scripts, {virtual:.1f} s of virtual "
            f"time in {wall:.1f} s)")


def write_junit(results: list[Result], path: str | Path, profile: str) -> None:
    suite = ET.Element("testsuite", name=f"netstack drill ({profile})", tests=str(len(results)),
                       failures=str(sum(r.status == "fail" for r in results)),
                       errors=str(sum(r.status in ("error", "unsupported") for r in results)),
                       time=f"{sum(r.seconds for r in results):.3f}")
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=f"drill.{profile}", name=result.path,
                             time=f"{result.seconds:.3f}")
        if result.status == "fail":
            failure = ET.SubElement(case, "failure", message=result.message.split("\n")[0])
            failure.text = result.explain()
        elif result.status in ("error", "unsupported"):
            error = ET.SubElement(case, "error", type=result.status, message=result.message)
            error.text = result.explain()
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def pcap_name(result: Result) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", result.path.strip("./")) + ".pcap"


def write_pcap(result: Result, directory: str | Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / pcap_name(result)
    writer = PcapWriter(str(path))
    try:
        for at, frame in result.frames:
            writer.write(frame, at)
    finally:
        writer.close()
    return path
