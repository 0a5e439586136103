"""The building blocks the stack uses: each the C version when the native module is built,
else its pure-Python stand-in (pure.py), with the same methods.

    from netstack.native.blocks import Ring, Spinlock

The internet checksum makes the same choice in netstack/checksum.py.
"""

from netstack.native import BUILT

if BUILT:
    from netstack.native.ring import Ring
    from netstack.native.spinlock import Spinlock
else:
    from netstack.native.pure import Ring, Spinlock

__all__ = ["Ring", "Spinlock"]
