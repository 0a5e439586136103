"""Compile native/*.c into netstack/native/_native*.so with cffi (API mode).

Run from anywhere: `python native/build.py` (the Makefile's `native` target does). The C
compiler works in native/_build/; only the finished extension module is copied next to
netstack/native/__init__.py, so the package imports it from the source tree.
"""

import os
import re
import shutil
import sys
from pathlib import Path

from cffi import FFI

NATIVE_DIR = Path(__file__).resolve().parent
REPO_ROOT = NATIVE_DIR.parent
BUILD_DIR = NATIVE_DIR / "_build"
PACKAGE_DIR = REPO_ROOT / "netstack" / "native"
MODULE_NAME = "netstack.native._native"

# What Python may call, read from the headers themselves (cdef_from_headers), so each
# function is declared once. The structs stay opaque: Python only ever holds pointers to
# them. ns_cpu.h (an inline helper for the C side) is the one header Python does not need.
# The pool and the I/O engine are what the native engine (netstack/engine/native_loop.py)
# drives; ns_ring_set_position and ns_selftest.h (gates, stress loops) are hooks for tests.
CDEF_HEADERS = ("ns_ring.h", "ns_spinlock.h", "ns_selftest.h", "ns_pool.h", "ns_engine.h",
                "ns_checksum.h")
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_CONSTANT = re.compile(r"#\s*define\s+(\w+)\s+\S")  # a value: not an include guard


def cdef_from_headers(paths) -> str:
    """The declarations of C headers in the form cffi's cdef takes: comments and the
    preprocessor dropped (include guards, #include), and each `#define NAME value` turned
    into `#define NAME ...`, an integer constant cffi asks the compiler for."""
    lines = []
    for path in paths:
        for line in _COMMENT.sub("", Path(path).read_text()).splitlines():
            if not line.lstrip().startswith("#"):
                lines.append(line)
            elif match := _CONSTANT.match(line.strip()):
                lines.append(f"#define {match.group(1)} ...")
    return "\n".join(lines)


CDEF = cdef_from_headers(NATIVE_DIR / name for name in CDEF_HEADERS)


def make_builder(relative: bool = False) -> FFI:
    """The cffi builder. setuptools insists on paths relative to the project root."""
    headers = sorted(NATIVE_DIR.glob("*.h"))
    native_dir = NATIVE_DIR.relative_to(REPO_ROOT) if relative else NATIVE_DIR
    ffibuilder = FFI()
    ffibuilder.cdef(CDEF)
    ffibuilder.set_source(
        MODULE_NAME,
        "".join(f'#include "{h.name}"\n' for h in headers),
        sources=[str(native_dir / c.name) for c in sorted(NATIVE_DIR.glob("*.c"))],
        include_dirs=[str(native_dir)],
        depends=[str(native_dir / h.name) for h in headers],
        extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra"],
    )
    return ffibuilder


# setup.py names this (cffi_modules), so `pip install .` builds the same module.
ffibuilder = make_builder(relative=True)


def main() -> int:
    BUILD_DIR.mkdir(exist_ok=True)
    built = Path(make_builder().compile(tmpdir=str(BUILD_DIR), verbose=True))
    # Copy under a temporary name, then rename: a process that has the old module
    # loaded keeps its mapping, and no one ever sees a half-written file.
    target = PACKAGE_DIR / built.name
    partial = target.with_name(target.name + ".partial")
    shutil.copy2(built, partial)
    os.replace(partial, target)
    print(f"native module: {target.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
