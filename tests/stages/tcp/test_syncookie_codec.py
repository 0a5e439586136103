"""The SYN cookie codec alone (stages/tcp/syncookie.py): what a cookie encodes comes back,
and nothing else passes: another key, another connection, a stale clock, a changed bit."""

from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netstack.stages.tcp.syncookie import (
    COUNTER_PERIOD,
    FORGED,
    MAX_AGE,
    MSS_TABLE,
    NO_WSCALE,
    STALE,
    TS_OPTION_MASK,
    SynCookies,
    decode_ts_options,
    encode_ts_options,
    mss_index,
)

LOCAL = (IPv4Address("192.0.2.2"), 80)
REMOTE = (IPv4Address("198.51.100.7"), 40000)
PEER_ISN = 123_456_789
NOW = 1000.0


def test_a_cookie_comes_back_with_its_mss():
    cookies = SynCookies(b"k" * 16)
    cookie, mss = cookies.make(LOCAL, REMOTE, PEER_ISN, 1460, NOW)
    assert mss == 1460
    check = cookies.check(LOCAL, REMOTE, PEER_ISN, cookie, NOW + 1)
    assert check.mss == 1460 and check.problem is None


@pytest.mark.parametrize("index", range(len(MSS_TABLE)))
def test_each_mss_index_round_trips(index):
    cookies = SynCookies(b"k" * 16)
    announced = MSS_TABLE[index] + 3  # a little above the entry: rounded down to it
    cookie, mss = cookies.make(LOCAL, REMOTE, PEER_ISN, announced, NOW)
    assert mss == MSS_TABLE[index]
    assert cookie >> 24 & 0x7 == index  # bits 26..24 (RFC 4987 §3.6)
    assert cookies.check(LOCAL, REMOTE, PEER_ISN, cookie, NOW).mss == MSS_TABLE[index]


def test_the_mss_is_rounded_down_never_up():
    assert MSS_TABLE[mss_index(1459)] == 1440
    assert MSS_TABLE[mss_index(9000)] == 1460
    assert MSS_TABLE[mss_index(536)] == 536
    assert mss_index(100) == 0  # below every entry: the smallest one


def test_another_key_rejects_the_cookie():
    cookie, _ = SynCookies(b"k" * 16).make(LOCAL, REMOTE, PEER_ISN, 1460, NOW)
    check = SynCookies(b"x" * 16).check(LOCAL, REMOTE, PEER_ISN, cookie, NOW)
    assert check.mss is None and check.problem == FORGED


def test_another_port_address_or_peer_isn_rejects_the_cookie():
    cookies = SynCookies(b"k" * 16)
    cookie, _ = cookies.make(LOCAL, REMOTE, PEER_ISN, 1460, NOW)
    other_port = (REMOTE[0], REMOTE[1] + 1)
    other_ip = (IPv4Address("198.51.100.8"), REMOTE[1])
    assert cookies.check(LOCAL, other_port, PEER_ISN, cookie, NOW).problem == FORGED
    assert cookies.check(LOCAL, other_ip, PEER_ISN, cookie, NOW).problem == FORGED
    assert cookies.check(LOCAL, REMOTE, PEER_ISN + 1, cookie, NOW).problem == FORGED


def test_a_changed_mss_index_is_caught():
    cookies = SynCookies(b"k" * 16)
    cookie, _ = cookies.make(LOCAL, REMOTE, PEER_ISN, 536, NOW)
    bigger = cookie ^ (0x7 << 24)  # ask for another MSS with the same MAC
    assert cookies.check(LOCAL, REMOTE, PEER_ISN, bigger, NOW).problem == FORGED


def test_a_cookie_is_valid_for_max_age_periods_then_stale():
    cookies = SynCookies(b"k" * 16)
    made = 10 * COUNTER_PERIOD + 5  # early in a period
    cookie, _ = cookies.make(LOCAL, REMOTE, PEER_ISN, 1460, made)
    last_valid = (10 + MAX_AGE + 1) * COUNTER_PERIOD - 0.001
    assert cookies.check(LOCAL, REMOTE, PEER_ISN, cookie, last_valid).mss == 1460
    stale = cookies.check(LOCAL, REMOTE, PEER_ISN, cookie, last_valid + 0.002)
    assert stale.mss is None and stale.problem == STALE


def test_a_cookie_from_the_future_is_stale():
    cookies = SynCookies(b"k" * 16)
    cookie, _ = cookies.make(LOCAL, REMOTE, PEER_ISN, 1460, NOW + COUNTER_PERIOD)
    assert cookies.check(LOCAL, REMOTE, PEER_ISN, cookie, NOW).problem == STALE


def test_the_clock_bits_wrap_every_32_periods():
    # Made in period 31, checked in period 33: the 5 counter bits wrapped, still valid.
    cookies = SynCookies(b"k" * 16)
    cookie, _ = cookies.make(LOCAL, REMOTE, PEER_ISN, 1460, 31 * COUNTER_PERIOD)
    assert cookie >> 27 == 31
    assert cookies.check(LOCAL, REMOTE, PEER_ISN, cookie, 33 * COUNTER_PERIOD).mss == 1460


@given(st.integers(0, 0xFFFFFFFF), st.sampled_from([None, *range(15)]), st.booleans(),
       st.booleans())
def test_the_option_bits_round_trip_and_never_move_the_clock_forward(tsval, shift, sack, ecn):
    encoded = encode_ts_options(tsval, shift, sack, ecn)
    options = decode_ts_options(encoded)
    assert (options.window_shift, options.sack_permitted, options.ecn) == (shift, sack, ecn)
    behind = (tsval - encoded) & 0xFFFFFFFF
    assert behind <= TS_OPTION_MASK  # at most 63 ticks back, never ahead


def test_the_option_bits_say_no_window_scaling_with_15():
    encoded = encode_ts_options(5000, None, False)
    assert encoded & 0xF == NO_WSCALE
    assert decode_ts_options(encoded).window_shift is None
    assert decode_ts_options(encode_ts_options(5000, 14, True)).window_shift == 14


@given(st.integers(0, 0xFFFFFFFF))
def test_a_random_number_is_almost_never_a_cookie(cookie):
    # 24 bits of MAC: a blind guess passes with probability 2^-24; the cookie clock's
    # bits alone reject most guesses as stale.
    check = SynCookies(b"k" * 16).check(LOCAL, REMOTE, PEER_ISN, cookie, NOW)
    assert check.mss is None
