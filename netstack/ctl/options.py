"""What every control tool's command line shares: `-n NAME`, `-j`, and one-line errors."""

from __future__ import annotations

import argparse


class ToolParser(argparse.ArgumentParser):
    """Bad arguments: one line (`netstack top: error: ...`) and exit status 2, no usage."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_common(parser: argparse.ArgumentParser, named: bool = True, json_help: str = "print JSON") -> None:
    if named:
        parser.add_argument("-n", "--name", metavar="NAME",
                            help="the stack to ask (netstack ps lists them; default: the only "
                                 "one running)")
    parser.add_argument("-j", "--json", action="store_true", help=json_help)


def positive_int(text: str) -> int:
    """argparse type: a whole number, at least 1 (`-c N`)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not at least 1")
    return value


def positive_seconds(text: str) -> float:
    """argparse type: a positive number of seconds (`--duration S`)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not positive")
    return value
