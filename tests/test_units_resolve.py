"""Choosing each unit's implementation: the reference by default, a replacement by `impl`,
and one clear line (ImplError) for a replacement that cannot work."""

from __future__ import annotations

import textwrap
from typing import Protocol

import pytest

from netstack import units
from netstack.config import build_run_options
from netstack.errors import ConfigError
from netstack.stages.tcp import congestion
from netstack.units import UNITS, ImplError, Unit, parse_impl_argument, resolve_units

MODULE = __name__


class Greeter(Protocol):
    """A made-up interface, so these tests do not depend on any real unit's Protocol."""

    greeting: str

    def greet(self, name: str) -> str: ...

    def wave(self) -> None: ...


class EnglishGreeter:
    greeting = "hello"

    def greet(self, name: str) -> str:
        return f"{self.greeting} {name}"

    def wave(self) -> None:
        pass


class GreeterSetInInit:
    """`greeting` exists only on instances: it is found in __init__."""

    def __init__(self) -> None:
        self.greeting = "hi"

    def greet(self, name: str) -> str:
        return name

    def wave(self) -> None:
        pass


class HalfAGreeter:
    def greet(self, name: str) -> str:
        return name


@pytest.fixture
def greeter_unit(monkeypatch):
    """UNITS with one extra unit, `greeter`, whose reference is EnglishGreeter."""
    unit = Unit("greeter", f"{MODULE}:Greeter", f"{MODULE}:EnglishGreeter", "says hello")
    monkeypatch.setitem(UNITS, "greeter", unit)
    return unit


def test_without_impl_every_unit_is_its_reference():
    chosen = resolve_units()
    for name, unit in UNITS.items():
        assert getattr(chosen, name) is units.load(unit.reference, name), name
    assert chosen.congestion is congestion.Reno


def test_a_path_names_the_replacement(greeter_unit):
    chosen = resolve_units({"greeter": f"{MODULE}:GreeterSetInInit"})
    assert chosen.greeter is GreeterSetInInit
    assert chosen.congestion is congestion.Reno  # the other units keep their reference


def test_an_object_may_be_given_instead_of_a_path(greeter_unit):
    assert resolve_units({"greeter": GreeterSetInInit}).greeter is GreeterSetInInit


def test_a_real_unit_can_be_replaced_by_a_subclass_of_its_reference():
    class SlowStartForever(congestion.Reno):
        pass

    assert resolve_units({"congestion": SlowStartForever}).congestion is SlowStartForever


def test_an_unknown_unit_name_is_refused_with_the_list_of_units():
    with pytest.raises(ImplError, match=r"unknown unit 'arpp' in impl \(units: checksum, ") as info:
        resolve_units({"arpp": "netstack.stages.arp:ArpStage"})
    assert isinstance(info.value, ConfigError)  # so the CLI reports it as a usage error


def test_a_module_that_does_not_import_is_named(greeter_unit):
    with pytest.raises(ImplError, match="unit 'greeter': cannot import 'no_such_lab.greeter': "
                       "ModuleNotFoundError"):
        resolve_units({"greeter": "no_such_lab.greeter:Greeter"})


def test_an_error_raised_while_importing_becomes_one_line(greeter_unit, tmp_path, monkeypatch):
    (tmp_path / "broken_greeter.py").write_text(textwrap.dedent("""
        raise RuntimeError("first line\\nsecond line")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImplError) as info:
        resolve_units({"greeter": "broken_greeter:Greeter"})
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith("RuntimeError: first line second line"), message


def test_a_missing_attribute_is_named(greeter_unit):
    with pytest.raises(ImplError, match=f"unit 'greeter': module '{MODULE}' has no 'Nobody'"):
        resolve_units({"greeter": f"{MODULE}:Nobody"})


def test_missing_members_are_listed_and_present_ones_are_not(greeter_unit):
    with pytest.raises(ImplError) as info:
        resolve_units({"greeter": f"{MODULE}:HalfAGreeter"})
    assert str(info.value) == (f"unit 'greeter': {MODULE}:HalfAGreeter does not implement "
                               "Greeter: missing greeting, wave")


def test_missing_members_of_an_object_name_the_object(greeter_unit):
    with pytest.raises(ImplError, match="unit 'greeter': HalfAGreeter does not implement Greeter"):
        resolve_units({"greeter": HalfAGreeter})


def test_a_real_interface_is_checked_too():
    with pytest.raises(ImplError, match="does not implement CongestionControl: missing .*on_ack"):
        resolve_units({"congestion": HalfAGreeter})


@pytest.mark.parametrize("text, unit, path", [
    ("arp=mylab.arp:ArpStage", "arp", "mylab.arp:ArpStage"),
    (" checksum = mylab.checksum ", "checksum", "mylab.checksum"),
])
def test_parse_impl_argument_splits_unit_and_path(text, unit, path):
    assert parse_impl_argument(text) == (unit, path)


@pytest.mark.parametrize("text, fragment", [
    ("arp", "expected UNIT=package.module:Attribute"),
    ("=mylab.arp:ArpStage", "expected UNIT=package.module:Attribute"),
    ("arp=", "expected UNIT=package.module:Attribute"),
    ("arpp=mylab.arp:ArpStage", "unknown unit 'arpp'"),
])
def test_parse_impl_argument_refuses_malformed_text(text, fragment):
    with pytest.raises(ImplError, match=fragment):
        parse_impl_argument(text)


# --- the same, through the run options (`--impl` flags over the `impl` key of a file) -----

BASE = {"port": "memory:x", "ip": "192.0.2.2/24"}
RENO = "netstack.stages.tcp.congestion:Reno"


def test_impl_reaches_the_stack_config(greeter_unit):
    options = build_run_options({**BASE, "impl": [f"greeter={MODULE}:EnglishGreeter"]})
    assert options.stack_config().impl == {"greeter": f"{MODULE}:EnglishGreeter"}


@pytest.mark.parametrize("file_value", [
    {"greeter": f"{MODULE}:EnglishGreeter", "congestion": RENO},
    [f"greeter={MODULE}:EnglishGreeter", f"congestion={RENO}"],
])
def test_a_flag_replaces_only_its_own_unit_from_the_file(greeter_unit, file_value):
    options = build_run_options({**BASE, "impl": [f"greeter={MODULE}:GreeterSetInInit"]},
                                {"impl": file_value})
    assert options.impl == {"greeter": f"{MODULE}:GreeterSetInInit", "congestion": RENO}


@pytest.mark.parametrize("file_value, fragment", [
    ("congestion=x", "bad impl 'congestion=x'"),
    ({"congestion": 3}, "bad impl entry for 'congestion'"),
    ({"arpp": RENO}, "unknown unit 'arpp'"),
    ({"congestion": f"{MODULE}:HalfAGreeter"}, "missing cwnd"),
])
def test_a_bad_impl_in_a_file_is_an_impl_error(file_value, fragment):
    with pytest.raises(ImplError, match=fragment):
        build_run_options(dict(BASE), {"impl": file_value})
