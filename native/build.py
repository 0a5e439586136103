"""Compile native/*.c into netstack/native/_native*.so with cffi (API mode).

Run from anywhere: `python native/build.py` (the Makefile's `native` target does). The C
compiler works in native/_build/; only the finished extension module is copied next to
netstack/native/__init__.py, so the package imports it from the source tree.
"""

import os
import shutil
import sys
from pathlib import Path

from cffi import FFI

NATIVE_DIR = Path(__file__).resolve().parent
REPO_ROOT = NATIVE_DIR.parent
BUILD_DIR = NATIVE_DIR / "_build"
PACKAGE_DIR = REPO_ROOT / "netstack" / "native"
MODULE_NAME = "netstack.native._native"

# What Python may call. The structs stay opaque: Python only ever holds pointers to them.
# The pool and the I/O engine (ns_pool.h, ns_engine.h) are what the native engine
# (netstack/engine/native_loop.py) drives. ns_ring_set_position and ns_selftest.c (gates, stress loops) are hooks for the tests.
CDEF = """
typedef struct ns_ring ns_ring;
#define NS_RING_SP ...
#define NS_RING_SC ...
#define NS_RING_MAX_SIZE ...
ns_ring *ns_ring_create(uint32_t size, unsigned flags);
void ns_ring_free(ns_ring *r);
unsigned ns_ring_enqueue_bulk(ns_ring *r, const uintptr_t *objs, unsigned n);
unsigned ns_ring_enqueue_burst(ns_ring *r, const uintptr_t *objs, unsigned n);
unsigned ns_ring_dequeue_bulk(ns_ring *r, uintptr_t *objs, unsigned n);
unsigned ns_ring_dequeue_burst(ns_ring *r, uintptr_t *objs, unsigned n);
unsigned ns_ring_count(const ns_ring *r);
unsigned ns_ring_free_count(const ns_ring *r);
unsigned ns_ring_capacity(const ns_ring *r);
void ns_ring_set_position(ns_ring *r, uint32_t position);

typedef struct ns_spinlock ns_spinlock;
ns_spinlock *ns_spinlock_create(void);
void ns_spinlock_free(ns_spinlock *lock);
void ns_spinlock_lock(ns_spinlock *lock);
int ns_spinlock_trylock(ns_spinlock *lock);
void ns_spinlock_unlock(ns_spinlock *lock);
int ns_spinlock_is_locked(ns_spinlock *lock);

typedef struct ns_gate ns_gate;
ns_gate *ns_gate_create(unsigned parties);
void ns_gate_free(ns_gate *gate);
void ns_gate_wait(ns_gate *gate);
void ns_spinlock_stress(ns_spinlock *lock, uint64_t *counter, uint64_t iterations,
                        ns_gate *gate);
void ns_ring_stress_produce(ns_ring *r, uint32_t producer_id, uint32_t count,
                            uint32_t max_burst, uint32_t seed, ns_gate *gate);
void ns_ring_stress_consume(ns_ring *r, uintptr_t *out, uint32_t count, uint32_t max_burst,
                            uint32_t seed, ns_gate *gate);

typedef struct ns_pool ns_pool;
ns_pool *ns_pool_create(uint32_t count, uint32_t buf_size, uint8_t *memory);
void ns_pool_free(ns_pool *pool);
unsigned ns_pool_get_burst(ns_pool *pool, uintptr_t *indices, unsigned n);
unsigned ns_pool_put_bulk(ns_pool *pool, const uintptr_t *indices, unsigned n);
unsigned ns_pool_available(const ns_pool *pool);
uint32_t ns_pool_count(const ns_pool *pool);
uint32_t ns_pool_buf_size(const ns_pool *pool);

typedef struct ns_engine ns_engine;
#define NS_WORD_OFF_SHIFT ...
#define NS_WORD_LEN_SHIFT ...
#define NS_ENGINE_MAX_BURST ...
#define NS_PORT_FD ...
#define NS_PORT_PACKET ...
#define NS_STAT_COUNT ...
ns_engine *ns_engine_create(int port_fd, int port_kind, ns_pool *pool, ns_ring *in_ring,
                            ns_ring *out_ring, uint32_t headroom, unsigned burst,
                            int busy_poll);
int ns_engine_start(ns_engine *engine);
void ns_engine_stop(ns_engine *engine);
void ns_engine_free(ns_engine *engine);
void ns_engine_kick(ns_engine *engine);
unsigned ns_engine_send(ns_engine *engine, const uintptr_t *words, unsigned n);
unsigned ns_engine_consumer_idle(ns_engine *engine);
void ns_engine_set_spin(ns_engine *engine, uint32_t spin_us);
int ns_engine_spin_rx(ns_engine *engine, uint32_t spin_us, int wake_fd);
int ns_engine_rx_fd(const ns_engine *engine);
void ns_engine_stats(const ns_engine *engine, uint64_t *out);

uint16_t ns_ones_complement_sum(const void *data, size_t len, uint64_t initial);
uint16_t ns_internet_checksum(const void *data, size_t len, uint64_t initial);
"""


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
