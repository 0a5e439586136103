"""A broken receiver given with `--impl` fails the receiver's own transcripts, and the
failure shows the transcript up to the first wrong step (tests/units/broken/
tcp_receiver.py reports its SACK blocks oldest first)."""

from .test_rto_alternative import impl_option, run_pytest

BROKEN = "tcp_receiver=tests.units.broken.tcp_receiver:AscendingSackReceiver"

__all__ = ["impl_option"]


def test_a_receiver_with_sack_blocks_out_of_order_fails_at_the_step_that_shows_it(impl_option):
    result = run_pytest("tests/stages/tcp/test_receiver_alone.py", "--impl", BROKEN)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "test_sack_blocks_report_the_most_recent_first" in out
    assert "1 failed" in out  # the other transcripts do not depend on the order
    assert "transcript (receiver alone" in out
    assert "step 5 failed" in out
    assert "expected ACK 5001 SACK 9381-10841 6461-7921" in out
    assert "got ACK 5001 win=11680 SACK 6461-7921 9381-10841" in out
    test = "tests/stages/tcp/test_receiver_alone.py::test_sack_blocks_report_the_most_recent_first"
    assert f"rerun just this test: pytest '{test}' --impl {BROKEN}" in out
