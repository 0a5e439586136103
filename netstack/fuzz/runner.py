"""The command line: run one harness under atheris, or replay and mutate without it.

    python -m netstack.fuzz receive --time 60          atheris, coverage-guided
    python -m netstack.fuzz receive --plain --runs 5000 --seed 1
                                                       seeded mutations, no instrumentation
    python -m netstack.fuzz receive --replay DIR...    each input once (regressions)

Atheris (libFuzzer) writes the inputs it finds to a work directory (--corpus, by default
/tmp/netstack-fuzz/HARNESS) and reads the checked-in seeds and regressions beside it; it
never writes into the tree. A crash is saved under the work directory's crashes/, with the
command that replays it.
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import random
import sys
import time
import traceback
from collections.abc import Callable

from netstack.fuzz import HARNESSES
from netstack.fuzz.corpus import read_inputs, regression_dir, seed_dir, write_input
from netstack.fuzz.mutate import mutate

PROGRESS_EVERY = 5.0  # seconds between progress lines of the plain loop
HANG_SECONDS = 10  # atheris: one input running this long is a hang (libFuzzer -timeout)
MAX_INPUT_LEN = 4096


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (as every netstack command)
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(
        prog="python -m netstack.fuzz",
        description="Fuzz one netstack harness (docs/FUZZING.md). With atheris installed it "
                    "is coverage-guided; --plain or --replay run without it.")
    parser.add_argument("harness", choices=sorted(HARNESSES), help="which harness")
    parser.add_argument("--time", type=float, default=None, metavar="SECONDS",
                        help="stop after this many seconds")
    parser.add_argument("--runs", type=int, default=None, metavar="N",
                        help="stop after N inputs")
    parser.add_argument("--seed", type=int, default=1, metavar="S",
                        help="the random seed (atheris's and the plain loop's); default 1")
    parser.add_argument("--corpus", type=pathlib.Path, default=None, metavar="DIR",
                        help="work directory for atheris's corpus and crashes "
                             "(default /tmp/netstack-fuzz/HARNESS)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--replay", nargs="*", type=pathlib.Path, metavar="DIR",
                      help="run every input in these directories once (default: the seeds "
                           "and regressions of HARNESS) and stop")
    mode.add_argument("--plain", action="store_true",
                      help="seeded mutations of the seeds without atheris (deterministic)")
    args = parser.parse_args(argv)
    if args.time is not None and args.time <= 0:
        parser.error("--time must be positive")
    if args.runs is not None and args.runs < 0:
        parser.error("--runs cannot be negative")
    return args


def load_harness(name: str, instrument: bool = False) -> Callable[[bytes], None]:
    module_name = HARNESSES[name]
    if instrument:
        import atheris

        with atheris.instrument_imports(include=["netstack"]):
            module = importlib.import_module(module_name)
    else:
        module = importlib.import_module(module_name)
    return module.one_input


def checked_in(name: str) -> list[pathlib.Path]:
    return [seed_dir(name), regression_dir(name)]


def replay(name: str, dirs: list[pathlib.Path]) -> int:
    one_input = load_harness(name)
    inputs = read_inputs(*dirs)
    for path, data in inputs:
        try:
            one_input(data)
        except Exception:  # noqa: BLE001 - any escape is the finding
            traceback.print_exc()
            print(f"{name}: CRASH on {path}", file=sys.stderr)
            return 1
    print(f"{name}: replayed {len(inputs)} inputs from {', '.join(map(str, dirs))}: no crash")
    return 0


def plain_loop(name: str, runs: int | None, seconds: float | None, seed: int,
               crash_dir: pathlib.Path | None = None, quiet: bool = False) -> int:
    """The seeds, then seeded mutations of them, until `runs` or `seconds` are used up.
    Returns how many inputs ran; raises the first crash (after saving its input)."""
    one_input = load_harness(name)
    rng = random.Random(seed)
    seeds = [data for _path, data in read_inputs(*checked_in(name))] or [b""]
    started = last_report = time.monotonic()
    done = 0
    while runs is None or done < runs:
        now = time.monotonic()
        if seconds is not None and now - started >= seconds:
            break
        data = seeds[done] if done < len(seeds) else mutate(rng, rng.choice(seeds), seeds)
        try:
            one_input(data)
        except Exception:
            if crash_dir is not None:
                path = write_input(crash_dir, data, "crash-")
                print(f"{name}: crash input saved to {path}", file=sys.stderr)
            raise
        done += 1
        if not quiet and now - last_report >= PROGRESS_EVERY:
            last_report = now
            print(f"{name}: {done} inputs, {done / (now - started):.0f}/s", flush=True)
    return done


def atheris_run(name: str, args: argparse.Namespace) -> int:
    import atheris

    work = args.corpus or pathlib.Path("/tmp/netstack-fuzz") / name
    crashes = work / "crashes"
    (work / "corpus").mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    existing = [str(d) for d in checked_in(name) if d.is_dir()]
    fuzzer_args = [sys.argv[0], str(work / "corpus"), *existing,
                   f"-seed={args.seed}", f"-timeout={HANG_SECONDS}",
                   f"-max_len={MAX_INPUT_LEN}", f"-artifact_prefix={crashes}/",
                   "-print_final_stats=1"]
    if args.runs is not None:
        fuzzer_args.append(f"-runs={args.runs}")
    if args.time is not None:
        fuzzer_args.append(f"-max_total_time={max(1, round(args.time))}")
    one_input = load_harness(name, instrument=True)
    atheris.Setup(fuzzer_args, one_input)
    print(f"{name}: atheris, work directory {work}; replay a crash with "
          f"python -m netstack.fuzz {name} --replay DIR", flush=True)
    atheris.Fuzz()  # exits the process (libFuzzer's status: 0, or 1 on a crash)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.replay is not None:
        return replay(args.harness, args.replay or checked_in(args.harness))
    if not args.plain:
        try:
            import atheris  # noqa: F401
        except ImportError:
            print("atheris is not installed: running the plain seeded loop "
                  "(pip install 'atheris>=2.3' for coverage-guided fuzzing)", file=sys.stderr)
            args.plain = True
    if args.plain:
        runs = args.runs if args.runs is not None or args.time is not None else 10_000
        work = args.corpus or pathlib.Path("/tmp/netstack-fuzz") / args.harness
        try:
            done = plain_loop(args.harness, runs, args.time, args.seed, work / "crashes")
        except Exception:  # noqa: BLE001 - report the finding on one line after its traceback
            traceback.print_exc()
            return 1
        print(f"{args.harness}: {done} inputs (seed {args.seed}): no crash")
        return 0
    return atheris_run(args.harness, args)
