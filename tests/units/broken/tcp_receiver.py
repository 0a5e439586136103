"""A broken TCP receiver (the `tcp_receiver` unit), with a plausible student's bug: its SACK
blocks come in ascending order, where RFC 2018 §4 wants the block of the most recent segment
first. Everything else is the reference's. test_broken_receiver.py checks that the
receiver's transcripts catch it and print the step that went wrong."""

from __future__ import annotations

from netstack.stages.tcp.receiver import Receiver


class AscendingSackReceiver(Receiver):
    def sack_blocks(self) -> tuple[tuple[int, int], ...]:
        base = self.rcv_nxt.value
        return tuple(sorted(super().sack_blocks(), key=lambda block: (block[0] - base) % 2**32))
