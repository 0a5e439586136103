"""`netstack drill SCRIPT...`: run packetdrill scripts against netstack in virtual time.

Exit status: 0 when every script passes, 1 when any fails (or is unsupported: a feature the
runner does not have is never a pass), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from netstack.ctl.options import ToolParser
from netstack.drill.packets import PROFILES
from netstack.drill.report import line_for, summary, write_junit, write_pcap
from netstack.drill.runner import Result, run_file

EXIT_USAGE = 2

DESCRIPTION = """\
Run packetdrill scripts (.pkt) against netstack, in virtual time: no network, no root, and
the same answer on every run. A directory runs every .pkt file under it.

profiles:
  strict  compare as packetdrill does (windows, option order and values included)
  rfc     ignore what stacks may legitimately choose (window values, option order, MSS and
          window-scale values, buffer sizes); keep flags, sequence and acknowledgement
          numbers, SACK blocks, which options are present, and the timing

A failing script prints its first mismatch in words and the transcript up to it."""


def build_parser() -> argparse.ArgumentParser:
    parser = ToolParser(prog="netstack drill", description=DESCRIPTION,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scripts", nargs="+", metavar="SCRIPT",
                        help="packetdrill scripts, or directories of them")
    parser.add_argument("--profile", choices=PROFILES, default="strict",
                        help="how outbound packets are compared (default: strict)")
    parser.add_argument("--junit", metavar="FILE", help="write a JUnit XML report here")
    parser.add_argument("--pcap-dir", metavar="DIR",
                        help="write a pcap of each failing script here (default: none)")
    parser.add_argument("--tolerance_usecs", "--tolerance-usecs", type=int, metavar="N",
                        help="timing tolerance in microseconds (overrides the scripts'; "
                             "default 4000)")
    parser.add_argument("--seed", type=int, default=1,
                        help="the stack's seed (ISNs, ports...); default 1")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only failures and the summary")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the transcript of passing scripts too")
    return parser


def find_scripts(names: list[str]) -> list[Path]:
    """Each name as a file, or the .pkt files under it; ValueError names a missing one."""
    found: list[Path] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            found.extend(sorted(path.rglob("*.pkt")))
        elif path.is_file():
            found.append(path)
        else:
            raise ValueError(f"no such script or directory: {name}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        scripts = find_scripts(args.scripts)
    except ValueError as exc:
        parser.error(str(exc))
    if not scripts:
        parser.error("no .pkt scripts found in " + " ".join(args.scripts))
    if args.tolerance_usecs is not None and args.tolerance_usecs < 0:
        parser.error("--tolerance_usecs must be 0 or more")
    overrides = {} if args.tolerance_usecs is None else {
        "tolerance_usecs": str(args.tolerance_usecs)}
    results: list[Result] = []
    for path in scripts:
        result = run_file(path, args.profile, overrides, args.seed)
        results.append(result)
        if not result.passed:
            print(line_for(result))
            print("\n".join("    " + line for line in result.explain().split("\n")[1:]))
            if args.pcap_dir and result.frames:
                print(f"    pcap: {write_pcap(result, args.pcap_dir)}")
        elif not args.quiet:
            print(line_for(result))
            if args.verbose:
                print("\n".join("    " + line for line in result.transcript))
        sys.stdout.flush()
    if args.junit:
        write_junit(results, args.junit, args.profile)
    print(summary(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
