"""Lab 7, part 1: the RTO estimator (RFC 6298 §2-§5; RFC 7323 Appendix G for several
samples per round trip).

Values are compared to the microsecond, so you may keep times in any unit inside. The
expected numbers are computed here from the RFC's formulas, from samples the variant draws."""

from __future__ import annotations

from lab07_bench import Checks, units

ALPHA, BETA, K = 1 / 8, 1 / 4, 4
US = 2e-6


class RtoChecks(Checks):
    def near(self, description: str, action, expected: float) -> float:
        got = self.run(description, action)
        if got is None or abs(got - expected) > US:
            self.fail(f"expected {description} == {expected:.6f}, got {got!r}", self._printed)
        self.log(f"{description} == {got:.6f}", self._printed)
        return got


def bench(variant, **settings):
    c = RtoChecks("RtoEstimator", variant)
    cls = units().tcp_rto
    shown = ", ".join(f"{k}={v}" for k, v in settings.items())
    est = c.run(f"RtoEstimator({shown})", lambda: cls(**settings))
    c.log(f"est = RtoEstimator({shown})", c._printed)
    return c, est


def reference(samples, granularity=0.001, min_rto=0.2, max_rto=120.0):
    """SRTT, RTTVAR and RTO after `samples`, by RFC 6298 §2.2-§2.5."""
    srtt = rttvar = None
    for r in samples:
        if srtt is None:
            srtt, rttvar = r, r / 2
        else:
            rttvar = (1 - BETA) * rttvar + BETA * abs(srtt - r)
            srtt = (1 - ALPHA) * srtt + ALPHA * r
    rto = min(max(srtt + max(granularity, K * rttvar), min_rto), max_rto)
    return srtt, rttvar, rto


def test_before_any_sample_the_rto_is_the_initial_one(variant):
    """RFC 6298 §2.1: no measurement yet, so the initial RTO (the variant's)."""
    c, est = bench(variant, initial_rto=variant.initial_rto)
    c.near("est.rto", lambda: est.rto, variant.initial_rto)
    c.check("est.srtt", lambda: est.srtt, None)
    c.check("est.rttvar", lambda: est.rttvar, None)


def test_the_first_sample_sets_srtt_and_half_of_it_as_rttvar(variant):
    """RFC 6298 §2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4 RTTVAR)."""
    c, est = bench(variant, initial_rto=variant.initial_rto, min_rto=0.0)
    r = 0.05 + variant.rng.randrange(1, 400) / 1000
    c.run(f"est.on_sample({r})", lambda: est.on_sample(r))
    c.near("est.srtt", lambda: est.srtt, r)
    c.near("est.rttvar", lambda: est.rttvar, r / 2)
    c.near("est.rto", lambda: est.rto, r + 4 * r / 2)


def test_a_second_sample_moves_srtt_by_an_eighth_and_rttvar_by_a_quarter(variant):
    """RFC 6298 §2.3: RTTVAR first (with the old SRTT), then SRTT."""
    c, est = bench(variant, min_rto=0.0)
    r1 = 0.1 + variant.rng.randrange(0, 300) / 1000
    r2 = r1 * 3
    c.run(f"est.on_sample({r1})", lambda: est.on_sample(r1))
    c.run(f"est.on_sample({r2})", lambda: est.on_sample(r2))
    srtt, rttvar, rto = reference([r1, r2], min_rto=0.0)
    c.near("est.rttvar", lambda: est.rttvar, rttvar)
    c.near("est.srtt", lambda: est.srtt, srtt)
    c.near("est.rto", lambda: est.rto, rto)


def test_a_series_of_samples_follows_the_formulas(variant):
    """Twelve samples drawn from the variant: SRTT, RTTVAR and RTO after each."""
    c, est = bench(variant)
    samples = []
    for _ in range(12):
        r = variant.rng.randrange(20, 900) / 1000
        samples.append(r)
        c.run(f"est.on_sample({r})", lambda r=r: est.on_sample(r))
        srtt, rttvar, rto = reference(samples)
        c.near(f"est.srtt after {len(samples)} samples", lambda: est.srtt, srtt)
        c.near(f"est.rttvar after {len(samples)} samples", lambda: est.rttvar, rttvar)
        c.near(f"est.rto after {len(samples)} samples", lambda: est.rto, rto)


def test_the_clock_granularity_is_the_floor_of_the_variance_term(variant):
    """RFC 6298 §2.3: max(G, K * RTTVAR); steady samples shrink RTTVAR until G wins."""
    g = 0.1
    c, est = bench(variant, min_rto=0.0, clock_granularity=g)
    c.run("60 samples of 0.3 s", lambda: [est.on_sample(0.3) for _ in range(60)])
    c.log("60 samples of 0.3 s")
    srtt, rttvar, _ = reference([0.3] * 60, granularity=g, min_rto=0.0)
    c.near("est.rto", lambda: est.rto, srtt + max(g, K * rttvar))


def test_the_rto_is_never_below_the_minimum(variant):
    """RFC 6298 §2.4 (Linux's 200 ms here): a 1 ms path still waits min_rto."""
    c, est = bench(variant, min_rto=0.2)
    c.run("est.on_sample(0.001)", lambda: est.on_sample(0.001))
    c.near("est.rto", lambda: est.rto, 0.2)


def test_the_rto_is_never_above_the_maximum(variant):
    """RFC 6298 §2.5: a huge sample still gives at most max_rto."""
    c, est = bench(variant, max_rto=60.0)
    c.run("est.on_sample(500.0)", lambda: est.on_sample(500.0))
    c.near("est.rto", lambda: est.rto, 60.0)


def test_an_initial_rto_outside_the_limits_is_clamped(variant):
    """The initial RTO obeys the same limits as any other."""
    c, est = bench(variant, initial_rto=0.05, min_rto=0.2)
    c.near("est.rto", lambda: est.rto, 0.2)


def test_each_backoff_doubles_the_rto_up_to_the_maximum(variant):
    """RFC 6298 §5.5: every expiry doubles the RTO; it stops at max_rto."""
    initial = variant.initial_rto
    c, est = bench(variant, initial_rto=initial, max_rto=8 * initial + 0.5)
    expected = initial
    for i in range(6):
        c.run("est.backoff()", est.backoff)
        expected = min(expected * 2, 8 * initial + 0.5)
        c.near(f"est.rto after {i + 1} backoffs", lambda: est.rto, expected)


def test_a_new_sample_undoes_the_backoff(variant):
    """§5.7's doubling lasts until a valid sample: then the RTO is the estimate again."""
    c, est = bench(variant, initial_rto=variant.initial_rto)
    for _ in range(3):
        c.run("est.backoff()", est.backoff)
    c.near("est.rto", lambda: est.rto, min(8 * variant.initial_rto, 120.0))
    c.run("est.on_sample(0.25)", lambda: est.on_sample(0.25))
    c.near("est.rto", lambda: est.rto, reference([0.25])[2])
    c.check("est.backoffs", lambda: est.backoffs, 0)


def test_setting_backoffs_to_zero_restores_the_estimate(variant):
    """The sender clears `backoffs` when a probed zero window reopens."""
    c, est = bench(variant, initial_rto=variant.initial_rto)
    c.run("est.on_sample(0.4)", lambda: est.on_sample(0.4))
    c.run("est.backoff()", est.backoff)
    c.run("est.backoff()", est.backoff)
    c.near("est.rto", lambda: est.rto, 4 * reference([0.4])[2])

    def clear() -> None:
        est.backoffs = 0
    c.run("est.backoffs = 0", clear)
    c.near("est.rto", lambda: est.rto, reference([0.4])[2])


def test_several_samples_per_round_trip_each_weigh_less(variant):
    """RFC 7323 Appendix G: alpha and beta divided by the samples expected per round trip."""
    c, est = bench(variant, min_rto=0.0)
    c.run("est.on_sample(0.5)", lambda: est.on_sample(0.5))
    c.run("est.on_sample(1.0, samples_per_rtt=4)", lambda: est.on_sample(1.0, 4))
    c.near("est.rttvar", lambda: est.rttvar, (1 - BETA / 4) * 0.25 + BETA / 4 * 0.5)
    c.near("est.srtt", lambda: est.srtt, (1 - ALPHA / 4) * 0.5 + ALPHA / 4 * 1.0)
