"""mahimahi trace files: one delivery opportunity per line.

Each line holds one non-negative integer, a time in milliseconds; the times never decrease,
and equal lines are several opportunities at the same millisecond (see rate.py for what an
opportunity is). Blank lines, signs, decimals or anything else are errors that name the
file and the line.
"""

from __future__ import annotations

from pathlib import Path

from netstack.errors import ConfigError

SHIPPED_TRACES = Path(__file__).resolve().parent.parent / "traces"  # netstack/sim/traces/


def locate_trace(name: str | Path, base_dir: str | Path | None = None) -> Path:
    """Where the trace `name` is: an absolute path as is; a relative one under `base_dir` (the
    current directory if None); a bare file name not found there among the shipped traces."""
    path = Path(name).expanduser()
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [Path(base_dir or ".") / path]
        if path.name == str(name):
            candidates.append(SHIPPED_TRACES / path)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    looked = " or ".join(str(c) for c in candidates)
    raise ConfigError(f"trace file {str(name)!r} not found (looked for {looked})")


def trace_name(path: Path) -> str:
    """How a scenario names a located trace: a shipped one by its bare name (the same on every
    machine, so presets hash alike everywhere), any other by its absolute path."""
    return path.name if path.parent == SHIPPED_TRACES else str(path)


def read_trace(path: str | Path) -> list[int]:
    """A mahimahi trace: one non-negative integer millisecond per line, never decreasing."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read trace: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text trace (non-ASCII bytes)") from None
    schedule: list[int] = []
    previous = 0
    for number, line in enumerate(text.splitlines(), 1):
        field = line.strip()
        if not (field.isascii() and field.isdigit()):
            raise ConfigError(f"{path} line {number}: expected a non-negative integer "
                              f"number of milliseconds, got {line!r}")
        ms = int(field)
        if ms < previous:
            raise ConfigError(f"{path} line {number}: timestamps must not decrease "
                              f"({ms} after {previous})")
        schedule.append(ms)
        previous = ms
    if not schedule:
        raise ConfigError(f"{path}: empty trace (no delivery opportunities)")
    return schedule
