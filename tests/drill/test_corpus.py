"""The conformance corpus: every script under tests/drill/ against netstack.

Scripts written for netstack pass in both profiles. Those under portable/ are written as other
stacks answer (their windows, their option order): they pass in the `rfc` profile, and the
`strict` profile must catch the difference, which is what the profiles are for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netstack.drill.runner import run_file

HERE = Path(__file__).parent
SCRIPTS = sorted(HERE.rglob("*.pkt"))
PORTABLE = HERE / "portable"
OWN = [p for p in SCRIPTS if PORTABLE not in p.parents]


def script_id(path: Path) -> str:
    return str(path.relative_to(HERE))


@pytest.mark.parametrize("path", SCRIPTS, ids=script_id)
def test_every_script_passes_in_the_rfc_profile(path):
    result = run_file(path, "rfc")
    assert result.passed, result.explain()


@pytest.mark.parametrize("path", OWN, ids=script_id)
def test_scripts_written_for_netstack_pass_in_the_strict_profile(path):
    result = run_file(path, "strict")
    assert result.passed, result.explain()


@pytest.mark.parametrize("path", sorted(PORTABLE.glob("*.pkt")), ids=script_id)
def test_strict_catches_what_another_stack_would_send(path):
    result = run_file(path, "strict")
    assert result.status == "fail"
    assert result.message.startswith(("win is", "options are")), result.message


def test_every_script_says_what_it_checks():
    for path in SCRIPTS:
        first = path.read_text().lstrip().split("\n", 1)[0]
        assert first.startswith("//"), f"{script_id(path)} should open with a // comment"
