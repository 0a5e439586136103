"""Initial sequence numbers (RFC 6528).

    ISN = M + F(localip, localport, remoteip, remoteport, secretkey)

M is a clock ticking every 4 microseconds (RFC 9293 §3.4.1), taken from the `now` the stage
is given, so a connection that reuses a 4-tuple starts above the old one's numbers. F is a
keyed hash of the 4-tuple, so an off-path attacker cannot guess the ISN of a connection from
the ISNs of its own (RFC 6528 §3). We use BLAKE2s with a secret chosen when the stage is
created: the TCP stage takes it from the stack's seeded random source (netstack/seeding.py),
so two stacks have different secrets unless they share a seed, and one seed repeats a run.
Alone, the generator draws its secret from os.urandom.
"""

from __future__ import annotations

import hashlib
import os
from ipaddress import IPv4Address

from netstack.stages.tcp.seq import Seq

TICKS_PER_SECOND = 250_000  # one tick per 4 µs
SECRET_LEN = 16


class IsnGenerator:
    def __init__(self, secret: bytes | None = None) -> None:
        # os.urandom is a source of randomness, not I/O: no clock is read, nothing blocks.
        self.secret = secret if secret is not None else os.urandom(SECRET_LEN)

    def isn(
        self,
        local_ip: IPv4Address,
        local_port: int,
        remote_ip: IPv4Address,
        remote_port: int,
        now: float,
    ) -> Seq:
        tuple_bytes = (
            local_ip.packed
            + local_port.to_bytes(2, "big")
            + remote_ip.packed
            + remote_port.to_bytes(2, "big")
        )
        digest = hashlib.blake2s(tuple_bytes, digest_size=4, key=self.secret).digest()
        clock = int(now * TICKS_PER_SECOND)
        return Seq(clock + int.from_bytes(digest, "big"))
