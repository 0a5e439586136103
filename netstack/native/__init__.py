"""Native (C) building blocks, compiled with cffi: rings, a spinlock, the internet checksum.

The C sources live in `native/` at the top of the repository; `python native/build.py` (run
by `make setup`) compiles them into `_native*.so` next to this file.

cffi releases the GIL around every call into C. That is what we want here: a ring
operation or a checksum over a large buffer runs truly in parallel with other Python
threads, and a thread spinning in `Spinlock.acquire()` does not stop the owner from running
the Python code that will release the lock.

`ffi` and `lib` are the raw cffi objects, for tests and for C code that needs a ring's or a
lock's pointer (`lib.ns_*` functions, declared in native/build.py).
"""

try:
    from netstack.native._native import ffi, lib
except ImportError as exc:
    raise ImportError(
        "netstack native module not built: run `make setup` (or python native/build.py)"
    ) from exc

from netstack.native.checksum import internet_checksum, ones_complement_sum
from netstack.native.ring import Ring
from netstack.native.spinlock import Spinlock

__all__ = ["Ring", "Spinlock", "ffi", "internet_checksum", "lib", "ones_complement_sum"]
