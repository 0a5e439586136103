"""The tcp_rto unit: the retransmission timeout estimator (RFC 6298, with RFC 7323 Appendix G's
weighting when many samples come per round trip).

These tests grade any implementation of the unit: `pytest tests/stages/tcp/test_rto.py
--impl tcp_rto=mylab.rto:RtoEstimator` runs them against it. Results are compared to the
microsecond, so an estimator may keep its times in any unit (test_rto_alternative.py runs
one that keeps integer microseconds)."""

import pytest

from .support import units_under_test

US = 1e-6  # the tolerance: one microsecond


def close(value: float) -> object:
    return pytest.approx(value, abs=2 * US)


@pytest.fixture
def Rto():  # noqa: N802 - the class under test
    return units_under_test().tcp_rto


def test_before_any_sample_the_rto_is_the_initial_one(Rto):  # noqa: N803
    est = Rto(initial_rto=1.0)
    assert est.rto == close(1.0)
    assert est.srtt is None


def test_the_first_sample_sets_srtt_and_half_of_it_as_rttvar(Rto):  # noqa: N803
    # RFC 6298 §2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4 RTTVAR)
    est = Rto(min_rto=0.0, clock_granularity=0.001)
    est.on_sample(0.5)
    assert est.srtt == close(0.5) and est.rttvar == close(0.25)
    assert est.rto == close(0.5 + 4 * 0.25)


def test_later_samples_move_srtt_by_an_eighth_and_rttvar_by_a_quarter(Rto):  # noqa: N803
    # RFC 6298 §2.3 with alpha = 1/8, beta = 1/4
    est = Rto(min_rto=0.0)
    est.on_sample(0.5)
    est.on_sample(1.0)
    rttvar = 0.75 * 0.25 + 0.25 * abs(0.5 - 1.0)
    srtt = 0.875 * 0.5 + 0.125 * 1.0
    assert est.rttvar == close(rttvar)
    assert est.srtt == close(srtt)
    assert est.rto == close(srtt + 4 * rttvar)


def test_many_samples_per_round_trip_each_weigh_less(Rto):  # noqa: N803
    # RFC 7323 Appendix G: alpha / ExpectedSamples and beta / ExpectedSamples
    est = Rto(min_rto=0.0)
    est.on_sample(0.5)
    est.on_sample(1.0, samples_per_rtt=4)
    assert est.rttvar == close(0.25 + (0.5 - 0.25) / 16)
    assert est.srtt == close(0.5 + 0.5 / 32)


def test_the_clock_granularity_is_the_floor_of_the_variance_term(Rto):  # noqa: N803
    est = Rto(min_rto=0.0, clock_granularity=0.1)
    for _ in range(50):
        est.on_sample(0.3)  # RTTVAR decays towards 0; G takes over
    assert est.rto == pytest.approx(est.srtt + 0.1, rel=1e-3)


def test_the_rto_stays_within_min_and_max(Rto):  # noqa: N803
    est = Rto(min_rto=0.2, max_rto=120.0)
    est.on_sample(0.001)
    assert est.rto == close(0.2)
    est.on_sample(500.0)
    assert est.rto == close(120.0)


def test_a_retransmission_doubles_the_rto_up_to_the_max_and_a_sample_resets_it(Rto):  # noqa: N803
    est = Rto(initial_rto=1.0, max_rto=10.0)
    rtos = []
    for _ in range(6):
        est.backoff()
        rtos.append(est.rto)
    assert rtos == [close(2.0), close(4.0), close(8.0), close(10.0), close(10.0), close(10.0)]
    est.on_sample(0.1)
    assert est.rto == close(max(0.2, 0.1 + 4 * 0.05))
    assert est.backoffs == 0


def test_clearing_the_backoff_count_undoes_the_doubling(Rto):  # noqa: N803
    # The sender does this when a probed zero window reopens (sender.py, on_ack).
    est = Rto(initial_rto=1.0)
    est.backoff()
    est.backoff()
    assert est.rto == close(4.0)
    est.backoffs = 0
    assert est.rto == close(1.0)
