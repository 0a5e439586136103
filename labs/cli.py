"""`netstack lab`: start a lab, check your work, grade it, run its real-tool step.

    netstack lab list                      the labs, one per line
    netstack lab start 1 ~/lab1            copy lab 1's starter into ~/lab1
    netstack lab check 1 [-k NAME]         (in ~/lab1) run lab 1's tests on your code
    netstack lab grade 1                   the full suite, hidden variants, results.json
    netstack lab real 1                    (root) the real-tool step, then its verification

Bad input is one `netstack lab: error: ...` line and exit status 2; a failed check is
exit status 1.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import subprocess
import sys
import time

from labs.grader import evidence, importcheck, report, results, runner
from labs.grader.workfolder import (
    UsageError,
    check_work_folder,
    impl_arguments,
    labs_in_folder,
    start,
    student_files,
    test_environment,
)
from labs.kit.labfile import Lab, LabError, all_labs, load_lab

EXIT_USAGE = 2


class OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"netstack lab: error: {message}\n")


def lab_number(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a lab number (netstack lab list)")
    return int(text)


def variant_seed(text: str) -> int | None:
    if text == "public":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer seed or 'public'") from None


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="netstack lab", description=__doc__.split("\n\n")[0],
        epilog="labs/README.md is the start page; each lab's HANDOUT.md says what to build.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     parser_class=OneLineErrorParser)

    commands.add_parser("list", help="the labs: number, title, hours, units, public tests",
                        description="One lab per line: number, title, time budget, the units "
                        "you write, the number of public tests.")

    p = commands.add_parser("start", help="copy a lab's starter into a work folder",
                            description="Copy labs/NN/starter/* and WRITEUP.md into DIR "
                            "(default: the current folder). Never overwrites your files "
                            "unless --force.")
    p.add_argument("lab", type=lab_number, metavar="N")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR")
    p.add_argument("--force", action="store_true", help="overwrite existing starter files")

    p = commands.add_parser("check", help="run a lab's tests on your code (or the reference)",
                            description="Run lab N's tests on the files in your work folder "
                            "(the current one, or --dir), in a separate process. Each failing "
                            "test prints its numbered transcript, the first mismatch, a pcap "
                            "and the command that reruns it.")
    p.add_argument("lab", type=lab_number, metavar="N")
    p.add_argument("-k", dest="keyword", metavar="NAME",
                   help="only the tests whose name matches NAME (pytest's -k)")
    p.add_argument("--reference", action="store_true",
                   help="test the reference implementation instead (what CI does); runs anywhere")
    p.add_argument("--variant", type=variant_seed, default=None, metavar="SEED",
                   help="a hidden variant: the same tests with other numbers drawn from SEED")
    p.add_argument("--impl", choices=["all-student"],
                   help="all-student: every unit of every lab whose files are in the folder "
                   "(the capstone)")
    add_common(p)

    p = commands.add_parser("grade", help="grade a work folder: results.json (Gradescope)",
                            description="Run the whole suite on the public variant and K hidden "
                            "variants (seeds drawn and printed), verify evidence-NN/ if present, "
                            "and write Gradescope's results.json. A test passes only if it "
                            "passes in every variant; a skipped test counts as failed.")
    p.add_argument("lab", type=lab_number, metavar="N")
    p.add_argument("--results", metavar="PATH", help="where to write results.json "
                   "(default: the work folder's results.json)")
    p.add_argument("--junit", metavar="PATH", help="also write JUnit XML (public variant)")
    p.add_argument("--hidden-seeds", type=int, default=2, metavar="K",
                   help="how many hidden variants (default 2)")
    p.add_argument("--seeds", metavar="S1,S2", help="use these hidden seeds instead of drawing")
    p.add_argument("-k", dest="keyword", help=argparse.SUPPRESS)
    add_common(p)

    p = commands.add_parser("real", help="(root) the real-tool step, then verify its evidence",
                            description="Run labs/NN/real/check.sh as root: your stack against "
                            "a real Linux tool in a private namespace. The evidence goes to "
                            "evidence-NN/ in the work folder and is verified offline.")
    p.add_argument("lab", type=lab_number, metavar="N")
    p.add_argument("--reference", action="store_true", help="the reference stack instead")
    p.add_argument("--evidence", metavar="DIR", help="the evidence folder "
                   "(default: evidence-NN in the work folder or, with --reference, here)")
    add_common(p)

    p = commands.add_parser("verify", help="verify an evidence folder offline",
                            description="Re-check an evidence folder with no root and no "
                            "network: the files' sha256 values and the lab's own checks.")
    p.add_argument("lab", type=lab_number, metavar="N")
    p.add_argument("folder", metavar="FOLDER")

    p = commands.add_parser("package", help="(teachers) a Gradescope autograder zip",
                            description="Write a zip in Gradescope's autograder format: "
                            "setup.sh, run_autograder and the project source. Upload it as a "
                            "programming assignment's autograder.")
    p.add_argument("lab", type=lab_number, metavar="N")
    p.add_argument("--gradescope", action="store_true", required=True,
                   help="Gradescope's format (the only one)")
    p.add_argument("-o", dest="output", metavar="FILE",
                   help="the zip to write (default: lab-NN-gradescope.zip)")

    p = commands.add_parser("starters", help="(lab authors) regenerate or check the starters",
                            description="Write labs/NN/starter/ from the reference's BEGIN/END "
                            "SOLUTION regions, or with --check fail if a committed one differs.")
    p.add_argument("labs", nargs="*", type=lab_number, metavar="N")
    p.add_argument("--check", action="store_true", help="write nothing; fail on a difference")
    return parser


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", default=".", metavar="DIR",
                   help="the work folder (default: the current folder)")
    p.add_argument("--timeout", type=float, default=runner.DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"wall-clock limit for the whole run (default {runner.DEFAULT_TIMEOUT:g})")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except LabError as exc:
        print(f"netstack lab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `netstack lab list | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


# --- list, start ---------------------------------------------------------------------------

def count_public_tests(lab: Lab) -> int:
    """Test functions in the lab's test files, read with ast (nothing imported)."""
    count = 0
    for path in lab.tests:
        full = os.path.join(lab.folder, path)
        files = [full] if os.path.isfile(full) else [
            os.path.join(root, name) for root, _, names in os.walk(full) for name in names
            if name.startswith("test_") and name.endswith(".py")]
        for file in files:
            with open(file, encoding="utf-8") as f:
                tree = ast.parse(f.read(), file)
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                        node.name.startswith("test"):
                    count += 1
    return count


def cmd_list(args) -> int:
    labs = all_labs()
    if not labs:
        print("no labs yet")
        return 0
    for lab in labs:
        units = ", ".join([*lab.units, *lab.modules]) or "-"
        print(f"{lab.number:2d}  {lab.title}  ({lab.hours:g} h; you write: {units}; "
              f"{count_public_tests(lab)} public tests)")
    return 0


def cmd_start(args) -> int:
    lab = load_lab(args.lab)
    copied = start(lab, args.dir, args.force)
    where = os.path.abspath(args.dir)
    print(f"lab {lab.number} ({lab.title}): copied {', '.join(copied)} into {where}")
    go = "" if os.path.samefile(args.dir, ".") else f"cd {args.dir} && "
    print(f"next: {go}netstack lab check {lab.number}   (the handout: "
          f"{os.path.join(lab.folder, 'HANDOUT.md')})")
    return 0


# --- check, grade --------------------------------------------------------------------------

def prepare(args, lab: Lab, all_student: bool = False):
    """The work folder's labs, or a refusal printed; (labs, refusals, import problem)."""
    folder = args.dir
    check_work_folder(lab, folder)
    labs = labs_in_folder(lab, folder, all_student)
    refused = importcheck.refusals(folder, labs)
    if refused:
        return labs, refused, ""
    env = runner.base_environment(os.path.abspath(folder), labs)
    problem = runner.check_imports(folder, student_files(labs, folder), env)
    return labs, [], problem


def cmd_check(args) -> int:
    lab = load_lab(args.lab)
    all_student = args.impl == "all-student"
    if args.reference:
        if all_student:
            raise UsageError("--reference and --impl all-student do not go together")
        labs, folder, problem = [lab], None, ""
    else:
        labs, refused, problem = prepare(args, lab, all_student)
        if refused:
            for line in refused:
                print(f"refused: {line}")
            print(f"lab {lab.number}: not run (the import check refused your files)")
            return 1
        folder = os.path.abspath(args.dir)
    if not args.keyword:
        runner.clear_results(folder or os.getcwd())
    run = runner.run_suite(lab, labs, folder, seed=args.variant, keyword=args.keyword,
                           all_student=all_student, timeout=args.timeout)
    if args.keyword and not run.results and not run.problems:
        raise UsageError(f"no test of lab {lab.number} matches -k {args.keyword}")
    rerun = runner.rerun_command(lab, args.variant, args.reference, all_student)
    print(report.check_report(lab.number, run, rerun, problem, report.use_color()))
    ok = run.results and run.passed == len(run.results) and not run.problems
    return 0 if ok else 1


def draw_seeds(args) -> list[int]:
    if args.seeds:
        try:
            return [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError:
            raise UsageError(f"--seeds {args.seeds!r}: expected integers, e.g. 17,4242") from None
    if args.hidden_seeds < 0:
        raise UsageError("--hidden-seeds must be 0 or more")
    draw = random.SystemRandom()
    return [draw.randrange(1, 2**31) for _ in range(args.hidden_seeds)]


def cmd_grade(args) -> int:
    if args.keyword:
        raise UsageError("grade runs the whole suite and counts no run that used -k "
                         "(use `netstack lab check N -k NAME` to run a few tests)")
    lab = load_lab(args.lab)
    started = time.monotonic()
    path = args.results or os.path.join(args.dir, "results.json")
    labs, refused, problem = prepare(args, lab)
    if refused:
        text = "\n".join(f"refused: {line}" for line in refused)
        print(text)
        record = results.results([results.result_item(f"{lab.number}.0", "import check", False,
                                                    text)], text)
        record["score"] = 0.0
        results.write(record, path)
        print(f"lab {lab.number}: graded 0 (import check refused your files); wrote {path}")
        return 1
    seeds = draw_seeds(args)
    print(f"grading lab {lab.number}: public variant + hidden seeds "
          f"{', '.join(map(str, seeds)) or '(none)'}", flush=True)
    folder = os.path.abspath(args.dir)
    runner.clear_results(folder)
    junit = os.path.abspath(args.junit) if args.junit else None
    runs = [runner.run_suite(lab, labs, folder, seed=seed, timeout=args.timeout,
                             junit=junit if seed is None else None) for seed in [None, *seeds]]
    items, summary = grade_items(lab, runs)
    record_evidence = evidence.evidence_folder(lab, args.dir)
    if os.path.isdir(record_evidence):
        _, problems = evidence.verify(lab, record_evidence, student=True)
        text = "\n".join(problems) or "verified offline: every check passed and every file's " \
                                      "sha256 matches"
        items.append(results.result_item(f"{lab.number}.{len(items) + 1}",
                                       f"real-tool step evidence ({os.path.basename(record_evidence)})",
                                       not problems, text))
    problems = [p for run in runs for p in run.problems]
    output = "\n".join(filter(None, [problem, *problems, summary]))
    record = results.results(items, output,
                             results.leaderboard_entries(runs[0].leaderboard),
                             {"lab": lab.number, "hidden_seeds": seeds},
                             time.monotonic() - started)
    if problems or not runs[0].results:
        record["score"] = 0.0  # a run that did not run every test is not counted
    results.write(record, path)
    for item in items:
        if item["status"] == "failed":
            print(f"FAILED {item['name']}: {report.first_mismatch(item['output'])}")
    print(summary)
    print(f"score {record['score']:g}/{record['extra_data']['max_score']:g}; wrote {path}"
          + (f" and {args.junit}" if args.junit else ""))
    return 0 if record["score"] == record["extra_data"]["max_score"] and items else 1


def grade_items(lab: Lab, runs: list[runner.Run]) -> tuple[list[dict], str]:
    """One results.json test per test: passed only if it passed in every variant."""
    order: list[str] = []
    by_test: dict[str, list[tuple[runner.Run, runner.TestResult]]] = {}
    for run in runs:
        for result in run.results:
            if result.nodeid not in by_test:
                order.append(result.nodeid)
            by_test.setdefault(result.nodeid, []).append((run, result))
    items = []
    passed = 0
    for index, nodeid in enumerate(order, 1):
        outcomes = by_test[nodeid]
        name = outcomes[0][1].name
        failures = [(run, r) for run, r in outcomes if not r.passed]
        ok = not failures and len(outcomes) == len(runs)
        passed += ok
        if ok:
            output = "passed in: " + ", ".join(run.variant_name for run, _ in outcomes)
        else:
            blocks = [report.failure_block(r, run, runner.rerun_command(
                lab, run.seed, False, False), color=False) for run, r in failures[:1]]
            blocks += [f"also failed in the {run.variant_name}" for run, _ in failures[1:]]
            output = "\n\n".join(blocks)
        items.append(results.result_item(f"{lab.number}.{index}", name, ok, output))
    variants = "public" + (f" + {len(runs) - 1} hidden" if len(runs) > 1 else "")
    summary = f"lab {lab.number}: {passed}/{len(order)} tests passed in every variant ({variants})"
    return items, summary


# --- real, verify ---------------------------------------------------------------------------

def cmd_real(args) -> int:
    from netstack.netns import is_root

    lab = load_lab(args.lab)
    script = os.path.join(lab.folder, "real", "check.sh")
    if not os.path.exists(script):
        raise LabError(f"lab {lab.number} has no real-tool step ({script} is missing)")
    if not is_root():
        print(f"netstack lab real {lab.number}: needs root (network namespaces and a TAP): "
              f"run it as root, e.g. sudo -E netstack lab real {lab.number}", file=sys.stderr)
        return EXIT_USAGE
    if args.reference:
        labs, folder = [lab], None
    else:
        check_work_folder(lab, args.dir)
        labs, folder = [lab], os.path.abspath(args.dir)
        refused = importcheck.refusals(folder, labs)
        if refused:
            print("\n".join(f"refused: {line}" for line in refused))
            return 1
    place = folder or os.getcwd()
    target = os.path.abspath(args.evidence or os.path.join(place, f"evidence-{lab.name}"))
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target)
    env = runner.base_environment(folder, labs)
    env.update(test_environment(folder, labs))
    env.update({"PYTHON": sys.executable, "EVIDENCE": target,
                "LAB_IMPL_ARGS": "" if folder is None else impl_arguments(labs),
                "LAB_IMPL_KIND": "reference" if folder is None else "student"})
    started = time.monotonic()
    try:
        done = subprocess.run(["bash", script], cwd=place, env=env, timeout=args.timeout,
                              check=False)
        status = done.returncode
    except subprocess.TimeoutExpired:
        print(f"the real-tool step took more than {args.timeout:g} s and was stopped")
        status = 124
    print(f"real-tool step: exit status {status} after {time.monotonic() - started:.1f} s; "
          f"evidence in {target}")
    _, problems = evidence.verify(lab, target, student=folder is not None)
    return print_verification(lab, target, problems) or (1 if status else 0)


def print_verification(lab: Lab, folder: str, problems: list[str]) -> int:
    for problem in problems:
        print(f"  problem: {problem}")
    verdict = "verified" if not problems else f"NOT verified ({len(problems)} problems)"
    print(f"lab {lab.number}: evidence {folder} {verdict}")
    return 1 if problems else 0


def cmd_verify(args) -> int:
    lab = load_lab(args.lab)
    if not os.path.isdir(args.folder):
        raise UsageError(f"{args.folder}: no such folder")
    _, problems = evidence.verify(lab, args.folder)
    return print_verification(lab, args.folder, problems)


# --- package, starters ----------------------------------------------------------------------

def cmd_package(args) -> int:
    from labs.grader import package

    lab = load_lab(args.lab)
    output = args.output or f"lab-{lab.name}-gradescope.zip"
    names = package.build(lab, output)
    print(f"wrote {output} ({len(names)} files): upload it as the autograder of a Gradescope "
          "programming assignment")
    return 0


def cmd_starters(args) -> int:
    from labs.kit import starter

    return starter.main([*(["--check"] if args.check else []), *map(str, args.labs)])


COMMANDS = {"list": cmd_list, "start": cmd_start, "check": cmd_check, "grade": cmd_grade,
            "real": cmd_real, "verify": cmd_verify, "package": cmd_package,
            "starters": cmd_starters}
