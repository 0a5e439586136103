"""Where a campaign's runs execute: in this process, in a process pool, on Dask or on Ray.

Every executor offers one operation, `map(fn, items)`, which yields `fn(item)` for each
item in the order the calls *finish* (the caller matches results to items by what the
result says, never by position). Runs are pure functions of their scenario, so which
executor ran them cannot change a byte of what they wrote; only the wall time differs.

    with executor_from_name("process", workers=2) as executor:
        for result in executor.map(work, items):
            ...

`fn` and the items travel to other processes (pickled), so `fn` must be a module-level
function or a functools.partial of one. An exception raised by `fn` comes out of `map`
as it was raised; the campaign catches ordinary errors inside `fn` so one failed run does
not stop the others (see campaign.py).

Why the process pool starts its workers with "forkserver" (or "spawn"), not "fork":
forking copies the parent as it is, threads and locks included. A parent that has run a
Dask client, matplotlib or any library that started a thread can hand a worker a lock that
no thread will ever release, and the worker hangs. Python itself warns about fork with
threads since 3.12 and stops defaulting to it in 3.14. A fork server is a clean process
started once, from which workers fork cheaply; each worker imports netstack once and is
reused for many runs, so the start-up cost is paid per worker, not per run. Workers
ignore Ctrl-C: the parent alone decides to stop, then ends them (an interrupted run leaves
no metrics.json, so the campaign reruns it next time).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from netstack.errors import ConfigError

EXECUTOR_NAMES = ("serial", "process", "dask", "dask://HOST:PORT", "ray", "ray://HOST:PORT")


class Executor:
    """The common shape; a context manager that releases workers on exit."""

    name = "executor"

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers, clusters and connections (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """One item after another, in this process: the simplest, and the easiest to debug."""

    name = "serial"

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)


def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C is the parent's to handle (see the module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _safe_start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


class ProcessExecutor(Executor):
    """A pool of `workers` processes on this machine (default: one per CPU)."""

    name = "process"

    def __init__(self, workers: int | None = None, start_method: str | None = None) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers: at least 1, got {workers}")
        self.workers = workers or os.cpu_count() or 1
        self.start_method = start_method or _safe_start_method()

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        items = list(items)
        if not items:
            return
        # No more workers than items: each one costs a process start and an import.
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(items)),
            mp_context=multiprocessing.get_context(self.start_method),
            initializer=_ignore_sigint)
        finished = False
        try:
            pending: set[Future] = {pool.submit(fn, item) for item in items}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                # Hand over every run that finished before raising for one that failed: a
                # campaign keeps what completed, and resumes from there.
                failed = [f for f in done if f.exception() is not None]
                for future in done:
                    if future not in failed:
                        yield future.result()
                if failed:
                    failed[0].result()
            finished = True
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:  # interrupted, or fn raised: stop now rather than finish every run
                _stop_pool(pool)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    # Runs already started (and the few the pool queues ahead) would go on to the end:
    # end their processes. Python 3.14 has pool.terminate_workers(); before it, the pool's
    # process table is the only handle, and shutdown() forgets it, so take it first.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=5)


class DaskExecutor(Executor):
    """Dask distributed: a cluster at `address` ("tcp://host:8786"), or a LocalCluster of
    `workers` single-threaded processes started here and closed with the executor.

    Workers write run directories themselves, so on a cluster of several machines the
    campaign directory must be on a filesystem every worker mounts at the same path.
    """

    name = "dask"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers: at least 1, got {workers}")
        self.address = address
        self.workers = workers or os.cpu_count() or 1
        self._client: Any = None
        self._cluster: Any = None

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("dask is not installed: pip install 'dask[distributed]'") from None
        if self.address is not None:
            try:
                self._client = Client(self.address, timeout="10s")
            except OSError as exc:
                raise ConfigError(f"cannot reach the Dask scheduler at {self.address}: {exc}") from None
        else:
            import logging

            self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                         processes=True, dashboard_address=None,
                                         silence_logs=logging.ERROR)
            self._client = Client(self._cluster)
        return self._client

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        from dask.distributed import as_completed

        items = list(items)
        if not items:
            return
        client = self._connect()
        # pure=False: every call is a run of its own, never a result Dask could reuse.
        futures = client.map(fn, items, pure=False)
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


class RayExecutor(Executor):
    """Ray, as an optional adapter: a cluster at `address`, or a local one of `workers` CPUs."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("ray is not installed: pip install ray") from None
        self._ray = ray
        self.address = address
        self.workers = workers
        self._started = False

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        ray = self._ray
        items = list(items)
        if not items:
            return
        if not ray.is_initialized():
            ray.init(address=self.address, num_cpus=self.workers if self.address is None else None,
                     log_to_driver=False)
            self._started = True
        remote = ray.remote(num_cpus=1)(fn)
        pending = [remote.remote(item) for item in items]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False


def executor_from_name(name: str, workers: int | None = None) -> Executor:
    """"serial", "process", "dask" (a LocalCluster), "dask://host:port" (a scheduler),
    "ray" or "ray://host:port"."""
    if name == "serial":
        return SerialExecutor()
    if name == "process":
        return ProcessExecutor(workers)
    if name == "dask":
        return DaskExecutor(workers=workers)
    if name.startswith(("dask://", "tcp://")):
        hostport = name.split("://", 1)[1]
        if not hostport or ":" not in hostport:
            raise ConfigError(f"--executor {name}: expected dask://HOST:PORT")
        return DaskExecutor(address=f"tcp://{hostport}", workers=workers)
    if name == "ray":
        return RayExecutor(workers=workers)
    if name.startswith("ray://"):
        return RayExecutor(address=name, workers=workers)
    raise ConfigError(f"--executor {name}: unknown (executors: {', '.join(EXECUTOR_NAMES)})")
