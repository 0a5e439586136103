"""What every service served by the engine's own loop thread shares: one epoll, one pass hook.

A pass hook (Engine.add_pass_hook) runs on the loop thread once the frames of a pass are
dispatched and their sockets woken. A loop service asks its epoll which of its sockets are
ready and serves them there and then, and the engine sends the answers in the same pass: no
hand-off to another thread. LoopServices (runner.py, datagrams) and LoopStreams
(loop_streams.py, TCP) differ only in how they open their sockets and serve a ready one:

    _open(handler, port)     open, bind and register one binding's socket (on start)
    _ready(fileno, events)   serve one socket the epoll reported (on the loop thread)
    _close_sockets()         close every socket (on stop, or when start fails)

Interface of ServiceThread (runner.py): start (raises why a port could not be bound), stop,
running, error.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Sequence
from typing import Any

from netstack import api

log = logging.getLogger(__name__)


class PassHookService:
    """Services served in the engine's passes (see the module doc)."""

    what = "services"  # for the log line when an error stops them

    def __init__(self, host: Any, bindings: Sequence[tuple[Any, int]]) -> None:
        self.host = host
        self.bindings = list(bindings)
        self.error: BaseException | None = None  # what stopped the service, if not stop()
        self._poller: Any = None
        self._hooked = False

    @staticmethod
    def possible(host: Any) -> bool:
        """True when the host's engine can run services in its passes."""
        engine = host.engine
        return hasattr(engine, "add_pass_hook") and hasattr(engine, "remove_pass_hook")

    def start(self, timeout: float = 10.0) -> None:
        """Open every socket (raising why one could not be), then hook into the loop."""
        self._poller = api.epoll()
        try:
            for handler, port in self.bindings:
                self._open(handler, port)
            self.host.call(lambda stack, now: self.host.engine.add_pass_hook(self._serve),
                           timeout)
            self._hooked = True
        except BaseException:
            self._close_all()
            raise

    def _serve(self, now: float) -> None:
        """Pass hook, on the loop thread: serve every socket that is ready."""
        try:
            for fileno, events in self._poller.poll(0):
                self._ready(fileno, events)
        except (OSError, ValueError) as exc:  # ENETDOWN, or the poller closed by stop()
            if not isinstance(exc, ValueError) and exc.errno != errno.ENETDOWN:
                self.error = exc
                log.exception("%s stopped", self.what)
            self._unhook_here()

    def _unhook_here(self) -> None:
        if self._hooked:
            self._hooked = False
            self.host.engine.remove_pass_hook(self._serve)

    def _stop_here(self) -> None:
        """On the loop thread, when stop() is called: unhook (subclasses may do more)."""
        self._unhook_here()

    def stop(self, timeout: float = 5.0) -> None:
        """Unhook on the loop thread (if it still runs), then close every socket."""
        if self._hooked and not self.host.closed:
            try:
                self.host.call(lambda stack, now: self._stop_here(), timeout)
            except OSError:
                pass  # the host stopped meanwhile: its loop runs no more hooks
        self._hooked = False
        self._close_all()

    def _close_all(self) -> None:
        self._close_sockets()
        if self._poller is not None:
            self._poller.close()

    @property
    def running(self) -> bool:
        return self._hooked and not self.host.closed

    def __enter__(self) -> PassHookService:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- what a subclass defines -----------------------------------------------------------

    def _open(self, handler: Any, port: int) -> None:
        raise NotImplementedError

    def _ready(self, fileno: int, events: int) -> None:
        raise NotImplementedError

    def _close_sockets(self) -> None:
        raise NotImplementedError
