"""The RTO tests grade any implementation of the tcp_rto unit: run with `--impl`, in a fresh
pytest, they pass for a deliberately different estimator (integer microseconds,
tests/units/alternatives/tcp_rto.py) and fail, naming the test, for a broken one."""

import os
import pathlib
import subprocess
import sys

import pytest

from netstack.stages.tcp.rto import RtoEstimator
from tests.units.alternatives.tcp_rto import MicrosecondRtoEstimator

ROOT = pathlib.Path(__file__).resolve().parents[3]
ALTERNATIVE = "tcp_rto=tests.units.alternatives.tcp_rto:MicrosecondRtoEstimator"
BROKEN = "tcp_rto=tests.units.broken.tcp_rto:NoBackoffRtoEstimator"


def run_pytest(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.fixture
def impl_option(pytestconfig):
    try:
        pytestconfig.getoption("--impl")
    except ValueError:
        pytest.skip("tests/conftest.py has no --impl option")


def test_the_alternative_really_is_different():
    reference, alternative = RtoEstimator(min_rto=0.0), MicrosecondRtoEstimator(min_rto=0.0)
    for r in (0.1, 0.0123457, 0.0300001):
        reference.on_sample(r)
        alternative.on_sample(r)
    assert alternative.srtt != reference.srtt  # rounded to the microsecond at each step
    assert alternative.srtt == pytest.approx(reference.srtt, abs=2e-6)


def test_an_estimator_in_integer_microseconds_passes_the_rto_tests(impl_option):
    result = run_pytest("tests/stages/tcp/test_rto.py", "--impl", ALTERNATIVE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_a_stack_with_it_still_repairs_losses(impl_option):
    result = run_pytest("tests/stages/tcp/test_loss_recovery.py",
                        "tests/stages/tcp/test_sender_alone.py", "--impl", ALTERNATIVE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_estimator_fails_naming_the_test(impl_option):
    result = run_pytest("tests/stages/tcp/test_rto.py", "--impl", BROKEN)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "test_a_retransmission_doubles_the_rto" in result.stdout
