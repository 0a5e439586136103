"""A broken RTO estimator (the `tcp_rto` unit): correct arithmetic, but a timer expiry does
not back it off (RFC 6298 §5.5 forgotten). test_rto_alternative.py checks that the unit's
tests catch it and name the step that failed."""

from __future__ import annotations

from netstack.stages.tcp.rto import RtoEstimator


class NoBackoffRtoEstimator(RtoEstimator):
    def backoff(self) -> None:
        pass
