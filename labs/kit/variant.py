"""Variants: the same test scripts with other addresses, ports, ISNs, RTO and seed.

The public variant (seed None) uses the fixed values a handout shows, so a student's
transcript matches the handout line for line. A hidden variant draws every value from its
seed: a test that passes only because it assumed the handout's numbers fails there, while
a correct unit passes both. Hidden variants change numbers, never what is asked.

Lab tests take the `variant` fixture (labs/conftest.py) and use its fields instead of
literals. The grader picks the variant with NETSTACK_LAB_VARIANT (an integer seed).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface

VARIANT_ENV = "NETSTACK_LAB_VARIANT"


@dataclass(frozen=True)
class Variant:
    seed: int | None  # None: the public variant
    our_mac: bytes = bytes.fromhex("020000000002")
    peer_mac: bytes = bytes.fromhex("020000000001")
    other_mac: bytes = bytes.fromhex("020000000003")
    our_ip: IPv4Address = IPv4Address("192.0.2.2")
    peer_ip: IPv4Address = IPv4Address("192.0.2.1")  # the kernel peer, also the gateway
    other_ip: IPv4Address = IPv4Address("192.0.2.3")  # a second on-link host
    far_ip: IPv4Address = IPv4Address("198.51.100.7")  # off-link: reached through the gateway
    prefix: int = 24
    peer_isn: int = 1000  # the test peer's initial sequence number
    peer_port: int = 40000  # the test peer's port
    stack_port: int = 80  # a port the stack listens on
    initial_rto: float = 1.0  # TCP's initial RTO for the stack (RFC 6298 §2.1)
    stack_seed: int = 1  # StackConfig.random_seed: the stack's own ISN, ports, IP IDs
    rng: random.Random = field(default_factory=lambda: random.Random(0), compare=False)

    @property
    def public(self) -> bool:
        return self.seed is None

    @property
    def interface(self) -> IPv4Interface:
        return IPv4Interface(f"{self.our_ip}/{self.prefix}")

    @property
    def name(self) -> str:
        return "public" if self.seed is None else f"hidden seed {self.seed}"

    @classmethod
    def hidden(cls, seed: int) -> Variant:
        """Every number drawn from `seed`; addresses stay in the documentation ranges."""
        rng = random.Random(f"lab-variant/{seed}")
        hosts = rng.sample(range(1, 255), 3)
        macs = [bytes([0x02, *rng.randbytes(5)]) for _ in range(3)]
        return cls(
            seed=seed,
            our_mac=macs[0], peer_mac=macs[1], other_mac=macs[2],
            our_ip=IPv4Address(f"192.0.2.{hosts[0]}"),
            peer_ip=IPv4Address(f"192.0.2.{hosts[1]}"),
            other_ip=IPv4Address(f"192.0.2.{hosts[2]}"),
            far_ip=IPv4Address(f"198.51.100.{rng.randrange(1, 255)}"),
            peer_isn=rng.randrange(2**32),
            peer_port=rng.randrange(1024, 65536),
            stack_port=rng.choice([80, 7, 9, 8080, rng.randrange(1024, 49152)]),
            initial_rto=rng.choice([0.5, 1.0, 1.5, 2.0]),
            stack_seed=rng.randrange(2**31),
            rng=random.Random(f"lab-variant-rng/{seed}"),
        )


def current_variant() -> Variant:
    """The variant this run grades: NETSTACK_LAB_VARIANT=SEED for a hidden one."""
    text = os.environ.get(VARIANT_ENV, "").strip()
    if not text or text == "public":
        return Variant(seed=None, rng=random.Random(0))
    try:
        return Variant.hidden(int(text))
    except ValueError:
        raise SystemExit(f"{VARIANT_ENV}={text!r}: expected an integer seed or 'public'") from None
