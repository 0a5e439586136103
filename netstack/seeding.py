"""One seed for every random choice a stack makes.

A stack picks things at random: the ISN secret (RFC 6528), ephemeral ports (RFC 6056), the
first IP identification, ARP retry jitter, and the link emulator's losses. `StackRandom`
gives each of those *purposes* its own generator, derived from one seed:

    rng = StackRandom(7)
    rng.generator("ipv4.id")          # a random.Random, the same for seed 7 on every run
    rng.secret("tcp.isn", 16)         # 16 bytes, the same for seed 7 on every run

Each purpose's stream is the SHA-256 of "seed/purpose", so purposes never share draws: a
stage that starts drawing more numbers does not shift any other stage's choices, and two
runs with one seed stay byte-identical. We hash with hashlib, never Python's hash(), which
is salted per process (PYTHONHASHSEED). With no seed, 32 bytes of fresh entropy
(os.urandom, read once) take the seed's place, so every run differs.

A fixed seed makes the secrets guessable: that is what reproducible means. Use one for
tests, labs and experiments, not for a stack facing a hostile network.
"""

from __future__ import annotations

import hashlib
import os
import random

from netstack.errors import ConfigError

ENTROPY_BYTES = 32


def check_seed(seed: object, what: str = "random seed") -> int | None:
    """`seed` if it is None or an integer (not a bool); else a one-line ConfigError."""
    if seed is None or (isinstance(seed, int) and not isinstance(seed, bool)):
        return seed
    raise ConfigError(f"bad {what} {seed!r}: expected an integer")


class StackRandom:
    """Independent, reproducible random generators, one per purpose, from one seed."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = check_seed(seed)
        if seed is None:
            self._root = os.urandom(ENTROPY_BYTES).hex().encode()
        else:
            self._root = str(seed).encode()

    def _digest(self, purpose: str) -> bytes:
        return hashlib.sha256(self._root + b"/" + purpose.encode()).digest()

    def generator(self, purpose: str) -> random.Random:
        """A new generator for `purpose`; every call with one purpose starts the same stream."""
        return random.Random(int.from_bytes(self._digest(purpose), "big"))

    def secret(self, purpose: str, length: int = 16) -> bytes:
        """`length` bytes (at most 32) for `purpose`, e.g. a hash key."""
        if not 0 < length <= 32:
            raise ValueError(f"a secret is 1 to 32 bytes, not {length}")
        return self._digest("secret:" + purpose)[:length]

    def __repr__(self) -> str:
        return f"StackRandom(seed={self.seed})"
