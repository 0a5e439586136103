"""Named drop and event counters. Every drop in the stack bumps one of these."""

from collections import defaultdict
from collections.abc import Callable


class Counters(defaultdict):
    """A dict of counter name -> count that starts every name at zero.

    Names read like paths: "ipv4.drop.bad_checksum", "arp.rx.request", "kni.to_kernel".
    A drop counter has "drop" as one of its parts.
    """

    # Set only while someone listens (set_drop_callback): a class default keeps the instance
    # dict empty, so looking up `bump` stays as fast as on a plain defaultdict subclass.
    on_drop: Callable[[str], None] | None = None

    def __init__(self) -> None:
        super().__init__(int)

    def bump(self, name: str, amount: int = 1) -> None:
        self[name] += amount

    def set_drop_callback(self, callback: Callable[[str], None] | None) -> None:
        """Call `callback(name)` on every bump of a drop counter, until set to None (the
        stack sets it while a trace subscriber wants drops). Without one, `bump` stays the
        plain method above: the check costs nothing when nobody listens."""
        if callback is None:
            self.__dict__.pop("bump", None)
            self.__dict__.pop("on_drop", None)
        else:
            self.on_drop = callback
            self.bump = self._bump_and_report  # type: ignore[method-assign]

    def _bump_and_report(self, name: str, amount: int = 1) -> None:
        self[name] += amount
        if ".drop." in name or name.startswith("drop.") or name.endswith(".drop"):
            callback = self.on_drop
            if callback is not None:
                callback(name)

    def snapshot(self) -> dict[str, int]:
        """A plain, sorted copy that is safe to print or compare."""
        return {name: self[name] for name in sorted(self) if self[name]}

    def matching(self, prefix: str) -> dict[str, int]:
        return {k: v for k, v in self.snapshot().items() if k.startswith(prefix)}
