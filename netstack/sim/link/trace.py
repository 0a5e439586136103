"""mahimahi trace files: one delivery opportunity per line.

Each line holds one non-negative integer, a time in milliseconds; the times never decrease,
and equal lines are several opportunities at the same millisecond (see rate.py for what an
opportunity is). Blank lines, signs, decimals or anything else are errors that name the
file and the line.
"""

from __future__ import annotations

from pathlib import Path

from netstack.errors import ConfigError


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
