"""Named drop and event counters. Every drop in the stack bumps one of these."""

from collections import defaultdict


class Counters(defaultdict):
    """A dict of counter name -> count that starts every name at zero.

    Names read like paths: "ipv4.drop.bad_checksum", "arp.rx.request", "kni.to_kernel".
    """

    def __init__(self) -> None:
        super().__init__(int)

    def bump(self, name: str, amount: int = 1) -> None:
        self[name] += amount

    def snapshot(self) -> dict[str, int]:
        """A plain, sorted copy that is safe to print or compare."""
        return {name: self[name] for name in sorted(self) if self[name]}

    def matching(self, prefix: str) -> dict[str, int]:
        return {k: v for k, v in self.snapshot().items() if k.startswith(prefix)}
