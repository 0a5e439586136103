"""Native (C) building blocks, compiled with cffi: rings, a spinlock, the internet checksum.

The C sources live in `native/` at the top of the repository; `python native/build.py` (run
by `make setup`) compiles them into `_native*.so` next to this file.

cffi releases the GIL around every call into C. That is what we want here: a ring
operation or a checksum over a large buffer runs truly in parallel with other Python
threads, and a thread spinning in `Spinlock.acquire()` does not stop the owner from running
the Python code that will release the lock.

`ffi` and `lib` are the raw cffi objects, for tests and for C code that needs a ring's or a
lock's pointer (`lib.ns_*` functions, declared in native/build.py).

Without the build (or with NETSTACK_PURE_PYTHON=1 in the environment) the same names come
from pure.py and the checksum reference: the stack runs, slower, with `BUILT` False and
`ffi`/`lib` None. `NOT_BUILT_REASON` says why.
"""

import os

try:
    if os.environ.get("NETSTACK_PURE_PYTHON"):
        raise ImportError("NETSTACK_PURE_PYTHON is set")
    from netstack.native._native import ffi, lib
except ImportError as exc:
    BUILT = False
    NOT_BUILT_REASON = (f"netstack native module not used ({exc}): run `make setup` "
                        "(or python native/build.py) to build it")
    ffi = lib = None
else:
    BUILT = True
    NOT_BUILT_REASON = ""

# The parts are chosen in blocks.py (Ring, Spinlock) and netstack/checksum.py, not here: the
# C wrappers import ffi and lib from this module, so it imports none of them back.
__all__ = ["BUILT", "NOT_BUILT_REASON", "ffi", "lib"]
