"""The tcp_seq unit: sequence numbers modulo 2^32 (RFC 9293 §3.4, RFC 1982's serial numbers).

These tests grade any implementation of the unit: `pytest tests/stages/tcp/test_seq.py
--impl tcp_seq=mylab.seq:Seq` runs them against it (the class comes from the units under
test, `Seq` below)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .support import units_under_test

u32 = st.integers(0, 2**32 - 1)


@pytest.fixture(scope="module")
def Seq():  # noqa: N802 - the class under test
    return units_under_test().tcp_seq


def test_adding_past_2_to_the_32_wraps_around(Seq):  # noqa: N803
    assert Seq(2**32 - 1) + 2 == Seq(1)
    assert Seq(0) - 1 == Seq(2**32 - 1)
    assert Seq(2**32 + 5).value == 5


def test_the_distance_is_signed_and_crosses_the_wrap(Seq):  # noqa: N803
    assert Seq(1) - Seq(2**32 - 1) == 2
    assert Seq(2**32 - 1) - Seq(1) == -2
    assert Seq(1).distance(Seq(2**32 - 1)) == 2


def test_a_number_just_past_the_wrap_is_ahead(Seq):  # noqa: N803
    assert Seq(1) > Seq(2**32 - 1)
    assert Seq(2**32 - 1) < Seq(1)


def test_a_sequence_number_never_compares_with_a_plain_int(Seq):  # noqa: N803
    with pytest.raises((TypeError, AttributeError)):
        _ = Seq(1) < 5  # type: ignore[operator]
    assert Seq(5) != 5


def test_equal_values_are_equal_and_hash_alike(Seq):  # noqa: N803
    assert Seq(7) == Seq(7 + 2**32)
    assert len({Seq(7), Seq(7 + 2**32)}) == 1


@given(u32, st.integers(-(2**31) + 1, 2**31 - 1))
def test_comparison_agrees_with_modular_distance(a, d):
    Seq = units_under_test().tcp_seq  # noqa: N806 (hypothesis: no function-scoped fixtures)
    x, y = Seq(a), Seq(a) + d
    assert (y - x) == d
    assert (x < y) == (d > 0)
    assert (x <= y) == (d >= 0)
    assert (x == y) == (d == 0)
    assert (x >= y) == (d <= 0)
    assert (x > y) == (d < 0)


@given(u32, u32, st.integers(1, 2**20))
def test_in_window_is_start_up_to_start_plus_size(start, value, size):
    Seq = units_under_test().tcp_seq  # noqa: N806
    expected = (value - start) % 2**32 < size
    assert Seq(value).in_window(Seq(start), size) == expected
