"""Backtick commands: the sysctls a script may set, mapped onto netstack's tunables.

packetdrill scripts set kernel knobs with shell commands (`sysctl -q net.ipv4.tcp_sack=0`).
netstack has no kernel and runs no shell: a command is read, and if it sets a sysctl from the
table below, the matching tunable (netstack/ctl/tunables.py) is set on the script's stack.
Any other command, or a sysctl not in the table, is reported as unsupported.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from netstack.ctl import tunables
from netstack.errors import ConfigError

T = "net.ipv4.tcp."


def _flag(value: str) -> str:
    return "0" if value.strip() == "0" else "1"


def _middle(value: str) -> str:
    parts = value.split()
    if len(parts) != 3:
        raise ConfigError(f"{value!r}: expected three numbers (min default max)")
    return parts[1]


def _last(value: str) -> str:
    parts = value.split()
    if len(parts) != 3:
        raise ConfigError(f"{value!r}: expected three numbers (min default max)")
    return parts[2]


def _zero_only(name: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value.strip() != "0":
            raise ConfigError(f"{name}={value}: netstack has no such feature (only 0 is known)")
        return None
    return check


# Linux sysctl -> [(netstack tunable, how its value converts)]; a converter returning None
# means "accepted, nothing to set".
SYSCTLS: dict[str, list[tuple[str, Callable[[str], Any]]]] = {
    "net.ipv4.tcp_sack": [(T + "sack", _flag)],
    "net.ipv4.tcp_timestamps": [(T + "timestamps", _flag)],
    "net.ipv4.tcp_window_scaling": [(T + "window_scaling", _flag)],
    "net.ipv4.tcp_syncookies": [(T + "syncookies", str)],
    "net.ipv4.tcp_syn_retries": [(T + "syn_retries", str)],
    "net.ipv4.tcp_synack_retries": [(T + "synack_retries", str)],
    "net.ipv4.tcp_retries2": [(T + "max_retries", str)],
    "net.ipv4.tcp_fin_timeout": [(T + "fin_wait_2_timeout", str)],
    "net.ipv4.tcp_keepalive_time": [(T + "keepalive_idle", str)],
    "net.ipv4.tcp_keepalive_intvl": [(T + "keepalive_interval", str)],
    "net.ipv4.tcp_keepalive_probes": [(T + "keepalive_count", str)],
    "net.ipv4.tcp_max_syn_backlog": [(T + "syn_queue_limit", str)],
    "net.core.somaxconn": [(T + "backlog_limit", str)],
    "net.ipv4.tcp_congestion_control": [(T + "congestion_control", str)],
    "net.ipv4.tcp_early_retrans": [(T + "tail_loss_probe", _flag)],
    "net.ipv4.tcp_moderate_rcvbuf": [(T + "rcvbuf_autotune", _flag)],
    "net.ipv4.tcp_challenge_ack_limit": [(T + "challenge_ack_limit", str)],
    "net.ipv4.tcp_max_tw_buckets": [(T + "max_time_wait", str)],
    "net.ipv4.tcp_rmem": [(T + "rcvbuf", _middle), (T + "rcvbuf_max", _last)],
    "net.ipv4.tcp_wmem": [(T + "sndbuf", _middle)],
    "net.ipv4.tcp_ecn": [("", _zero_only("net.ipv4.tcp_ecn"))],
    "net.ipv4.tcp_fastopen": [("", _zero_only("net.ipv4.tcp_fastopen"))],
}


class CommandUnsupported(Exception):
    """A command (or a sysctl) the runner does not know; the message names it."""


def run_command(command: str, stack: Any) -> list[str]:
    """Carry out a backtick command on `stack`; returns what it set, for the transcript.
    CommandUnsupported for anything but `sysctl [-q] [-w] NAME=VALUE ...`."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise CommandUnsupported(f"command {command!r} ({exc})") from None
    if not words or words[0] != "sysctl":
        raise CommandUnsupported(f"command `{command}` (only sysctl NAME=VALUE is known)")
    done = []
    for word in words[1:]:
        if word in ("-q", "-w", "-qw", "-wq"):
            continue
        name, equals, value = word.partition("=")
        if not equals:
            raise CommandUnsupported(f"sysctl {word!r} (only NAME=VALUE is known)")
        if name not in SYSCTLS:
            raise CommandUnsupported(f"sysctl {name}")
        for tunable_name, convert in SYSCTLS[name]:
            try:
                converted = convert(value)
                if converted is None:
                    continue
                tunable = tunables.find(tunable_name)
                done.append(f"{tunable_name}={tunables.set_value(stack, tunable, converted)}")
            except ConfigError as exc:
                raise CommandUnsupported(f"sysctl {name}={value}: {exc}") from None
    return done
