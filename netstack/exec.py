"""`netstack exec`: run an unmodified Python program with its sockets on netstack.

    netstack exec --port tap:ns0 --ip 192.0.2.2/24 -m http.server --bind 192.0.2.2 8000
    netstack exec --config lab.toml client.py --verbose
    python -m netstack.exec --port memory:lab --ip 192.0.2.2/24 script.py

It opens a stack (the options and --config file of `netstack run`), patches the standard
library so AF_INET sockets, names, selectors and asyncio go through it
(netstack/compat/patch.py), runs the target with `runpy` as `python -m MODULE` or
`python SCRIPT` would, then closes the stack and prints its counters on stderr. While the
program runs, the control tools reach its stack (`netstack ss -n NAME`).

The program's exit status is the command's. What cannot work on a stack in this process
(fork, os.dup of a netstack socket, a C extension calling libc's socket functions) fails
with a message that says so: netstack sockets have file numbers no kernel call accepts.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
from collections.abc import Sequence

from netstack.errors import ConfigError, NetstackError
from netstack.stack_options import add_stack_arguments, open_engine_from

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netstack exec",
        usage="netstack exec [STACK OPTIONS] (-m MODULE | SCRIPT) [ARGS...]",
        description="Run an unmodified Python program with its AF_INET sockets on a netstack "
                    "stack: socket, select, selectors, socketserver, ssl and asyncio are "
                    "patched before it starts. Everything after MODULE or SCRIPT is the "
                    "program's own arguments.",
        epilog="example (as root, in a namespace where the kernel is 192.0.2.1 on tap ns0):\n"
               "  netstack exec --port tap:ns0 --ip 192.0.2.2/24 -m http.server "
               "--bind 192.0.2.2 8000\n  curl http://192.0.2.2:8000/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stack_arguments(parser)
    parser.add_argument("--dns", metavar="ADDRESS",
                        help="a DNS server to ask, over netstack UDP, for names that are "
                             "neither numeric nor in /etc/hosts")
    parser.add_argument("--name", metavar="NAME",
                        help="the name the control tools reach the stack by")
    parser.add_argument("--quiet", action="store_true", help="no counters at exit")
    parser.add_argument("-m", dest="module", metavar="MODULE", help="run a module, as python -m")
    return parser


def split_command(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[list[str], list[str]]:
    """Our options, and the program's command (`-m MODULE ARGS` or `SCRIPT ARGS`): the
    program's arguments are never read as ours, even when they look like options."""
    at = 0
    while at < len(argv):
        word = argv[at]
        if word == "-m":
            return argv[:at + 2], argv[at + 2:]
        if word == "--":
            return argv[:at], argv[at + 1:]
        if not word.startswith("-"):
            return argv[:at], argv[at:]
        action = parser._option_string_actions.get(word.partition("=")[0])
        takes_value = action is not None and action.nargs != 0 and "=" not in word
        at += 2 if takes_value else 1
    return argv, []


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ours, command = split_command(parser, list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(ours)
    if args.module is None and not command:
        parser.error("give -m MODULE or SCRIPT: the program to run")
    problem = _missing_program(args.module, command)
    if problem:
        print(f"netstack exec: {problem}", file=sys.stderr)
        return 1
    try:
        return _run(args, command)
    except ConfigError as e:
        print(f"netstack exec: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except NetstackError as e:
        print(f"netstack exec: {e}", file=sys.stderr)
        return 1


def _missing_program(module: str | None, command: list[str]) -> str | None:
    """What python would refuse before running anything (said before a stack is opened)."""
    if module is None:
        return None if os.path.isfile(command[0]) else f"can't open file {command[0]!r}"
    import importlib.util

    sys.path.insert(0, os.getcwd())
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    finally:
        sys.path.pop(0)
    return None if found is not None else f"no module named {module}"


def _run(args: argparse.Namespace, command: list[str]) -> int:
    from netstack.api import Host
    from netstack.cli import open_control
    from netstack.compat import patch

    engine, options = open_engine_from(args)
    control = open_control(engine, options.port, str(options.address), args.name)
    host = Host(engine, owns_engine=True)
    status = 0
    try:
        engine.start()
        if control is not None:
            control.mark_ready()
        patch.patch_all(host, dns=args.dns)
        status = _run_program(args.module, command)
    finally:
        patch.unpatch_all()
        if control is not None:
            control.close()
        host.close()
        if not args.quiet:
            print("counters:", file=sys.stderr)
            for name, value in engine.stack.counters.snapshot().items():
                print(f"  {name} {value}", file=sys.stderr)
    return status


def _run_program(module: str | None, command: list[str]) -> int:
    """Run it as python would, in this process; its exit status."""
    saved_argv = sys.argv
    try:
        if module is not None:
            sys.argv = [module, *command]
            sys.path.insert(0, os.getcwd())  # as `python -m` puts the current directory first
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(command)
            sys.path.insert(0, os.path.dirname(os.path.abspath(command[0])))  # as python does
            runpy.run_path(command[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BaseException:
        import traceback

        traceback.print_exc()
        return 1
    finally:
        sys.argv = saved_argv
    return 0


if __name__ == "__main__":
    sys.exit(main())
