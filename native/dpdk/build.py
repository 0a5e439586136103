"""Compile the DPDK shim (native/dpdk/ns_dpdk.c) into netstack/native/_dpdk*.so with cffi.

Kept apart from native/build.py on purpose: the main native module must build on machines
without DPDK. This one is built only when `pkg-config libdpdk` finds DPDK; otherwise it
says why it skipped and exits 0, so `make setup` still succeeds and the DPDK tests report
themselves skipped.

    python native/dpdk/build.py        (the Makefile's native step runs it)
"""

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from cffi import FFI

DPDK_DIR = Path(__file__).resolve().parent
REPO_ROOT = DPDK_DIR.parent.parent
BUILD_DIR = DPDK_DIR.parent / "_build" / "dpdk"  # under native/_build/, already ignored by git
PACKAGE_DIR = REPO_ROOT / "netstack" / "native"
MODULE_NAME = "netstack.native._dpdk"

def _load_cdef_reader():
    """native/build.py's cdef_from_headers (loaded by path: this script runs on its own)."""
    spec = importlib.util.spec_from_file_location("native_build", DPDK_DIR.parent / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.cdef_from_headers


# What Python may call: ns_dpdk.h itself. DPDK structs stay opaque.
CDEF = _load_cdef_reader()([DPDK_DIR / "ns_dpdk.h"])


def pkg_config(*args: str) -> list[str] | None:
    """pkg-config's answer for libdpdk, split into flags; None when DPDK is not found."""
    try:
        result = subprocess.run(["pkg-config", *args, "libdpdk"], capture_output=True,
                                text=True, check=False)
    except FileNotFoundError:
        return None
    return shlex.split(result.stdout) if result.returncode == 0 else None


def main() -> int:
    cflags = pkg_config("--cflags")
    libs = pkg_config("--libs")
    if cflags is None or libs is None:
        print("skipping the DPDK binding: `pkg-config libdpdk` found no DPDK "
              "(as root, `make setup` installs Debian's dpdk and libdpdk-dev)")
        return 0
    ffibuilder = FFI()
    ffibuilder.cdef(CDEF)
    ffibuilder.set_source(
        MODULE_NAME,
        '#include "ns_dpdk.h"\n',
        sources=[str(DPDK_DIR / "ns_dpdk.c")],
        include_dirs=[str(DPDK_DIR)],
        depends=[str(DPDK_DIR / "ns_dpdk.h")],
        extra_compile_args=["-O2", "-Wall", "-Wextra", *cflags],
        # --no-as-needed: the PMDs the EAL loads as plugins need librte_ethdev and friends
        # loaded even though the shim calls few of their functions directly.
        extra_link_args=["-Wl,--no-as-needed", *(f for f in libs if f != "-Wl,--as-needed")],
    )
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    built = Path(ffibuilder.compile(tmpdir=str(BUILD_DIR), verbose=False))
    target = PACKAGE_DIR / built.name
    partial = target.with_name(target.name + ".partial")
    shutil.copy2(built, partial)
    os.replace(partial, target)  # a process with the old module loaded keeps its mapping
    print(f"DPDK binding: {target.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
