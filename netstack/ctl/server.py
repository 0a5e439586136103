"""The loop's side of the control plane: answer the tools, on the loop thread, a little per pass.

`ControlServer(engine, name)` creates the segment (segment.py). The loop drains the request
rings once per pass when a client has rung the segment's doorbell (a pass hook that reads one
byte), so a busy stack answers in its next pass. An idle stack sleeps in poll(), which no
tool can interrupt, so a timer on the stack's wheel also drains every POLL_INTERVAL while
tools are talking to it, and every IDLE_POLL_INTERVAL otherwise. Each drain:

  1. notes the loop's progress in the segment's header (so a tool that times out can say
     when the loop last ran);
  2. serves slots whose client changed (a new client: both rings emptied);
  3. takes at most MAX_REQUESTS_PER_POLL requests over all slots, answers each from the
     stack as it is at that moment (no packet is processed meanwhile, so a snapshot is
     consistent with itself), one page per request.

A request that is malformed, or names a buffer its slot does not own, is counted
(`ctl.drop.bad_request`, and the segment's garbage count) and answered with an error when it
can be; nothing a client writes can stop the loop. Handlers are a dict from a request type
to `handler(server, args) -> JSON-able`; tools add entries to it (handlers.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from netstack.ctl import messages
from netstack.ctl.handlers import HANDLERS
from netstack.ctl.messages import MORE, REPLY, REQUEST, BadMessage, Message
from netstack.ctl.segment import DEFAULT_LAYOUT, READY, Layout, Segment
from netstack.ctl.streams import StreamTable

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.01  # seconds between looks while a tool is talking to us
IDLE_POLL_INTERVAL = 0.1  # ...and when none has for STAY_QUICK: an idle stack must sleep
STAY_QUICK = 2.0
MAX_REQUESTS_PER_POLL = 8  # bounds the time the loop spends on tools per poll
PAGES_KEPT_FOR = 10.0  # seconds a paged answer waits for its next page to be asked


class ControlServer:
    def __init__(self, engine: Any, name: str, port: str = "", addresses: str = "",
                 layout: Layout = DEFAULT_LAYOUT) -> None:
        self.engine = engine
        self.stack = engine.stack
        self.name = name
        self.segment = Segment.create(name, port, addresses, layout)
        self.layout = layout
        self.rings = [self.segment.rings(slot) for slot in range(layout.slots)]
        self.served = [0] * layout.slots
        self.pages: dict[tuple[int, int], tuple[bytes, float]] = {}  # (slot, id) -> answer
        self.garbage = 0
        self.handlers = dict(HANDLERS)
        self.streams = StreamTable()  # capture and events (streams.py)
        self.current_slot = -1  # the slot whose request a handler is answering
        self.now = 0.0
        self.quick_until = 0.0  # poll every POLL_INTERVAL until then
        self._timer = self.stack.timers.schedule(0.0, self.poll)
        self._hooked = hasattr(engine, "add_pass_hook")
        if self._hooked:
            engine.add_pass_hook(self.on_pass)

    def mark_ready(self) -> None:
        """The stack is up: tools get answers from now on (before, they hear "starting")."""
        self.segment.set_state(READY)

    def close(self) -> None:
        """Remove the segment: the stack is no longer reachable."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._hooked:
            self._hooked = False
            try:
                self.engine.remove_pass_hook(self.on_pass)
            except ValueError:
                pass  # already gone
        self.rings = []
        self.streams.close_all()  # every tap off: the stack runs on without tools
        self.segment.close(remove=True)

    # --- one poll, on the loop thread -----------------------------------------------------
    def on_pass(self, now: float) -> None:
        """Every pass: drain only if a client rang (one byte read otherwise)."""
        if self.rings and self.segment.answer_doorbell():
            self.drain(now)

    def poll(self, now: float) -> None:
        """The timer: an idle loop sleeps through doorbells, so look now and then anyway."""
        interval = POLL_INTERVAL if now < self.quick_until else IDLE_POLL_INTERVAL
        self._timer = self.stack.timers.schedule(now + interval, self.poll)
        self.drain(now)

    def drain(self, now: float) -> None:
        self.now = now
        try:
            self._serve_new_clients()
            budget = MAX_REQUESTS_PER_POLL
            for slot in range(self.layout.slots):
                while budget > 0 and self._answer_one(slot):
                    budget -= 1
            self._forget_old_pages(now)
            self.streams.close_idle(now)
        except Exception:  # a bug here must not stop the stack: count it, say it, go on
            self.stack.counters.bump("ctl.error")
            log.exception("control request failed")
        self.segment.record_progress(getattr(self.engine, "passes", 0), self.garbage)

    def _serve_new_clients(self) -> None:
        for slot in range(self.layout.slots):
            generation, _served = self.segment.generations(slot)
            sound = all(ring.still_sound() for ring in self.rings[slot])
            if not sound:
                self._count_garbage()  # someone wrote over a ring's size or modes
            if generation != self.served[slot] or not sound:
                self.rings[slot] = self.segment.reset_slot(slot)
                self.pages = {k: v for k, v in self.pages.items() if k[0] != slot}
                self.streams.close_slot(slot)  # a new client: the last one's streams end
                self.served[slot] = generation
                self.segment.set_served(slot, generation)
                self.quick_until = self.now + STAY_QUICK

    def _answer_one(self, slot: int) -> bool:
        """Take one request from the slot, answer it; False if there was none."""
        requests, replies = self.rings[slot]
        index = requests.dequeue()
        if index is None:
            return False
        self.stack.counters.bump("ctl.rx.requests")
        self.quick_until = self.now + STAY_QUICK
        if self.segment.owner_of(index) != slot:
            self._count_garbage()  # not this slot's buffer: nowhere safe to answer
            return True
        buffer = self.segment.buffer(index)
        try:
            request = messages.read(buffer, REQUEST)
        except BadMessage as exc:
            self._count_garbage()
            reply = Message(REPLY, 0, "error", json.dumps(f"bad request: {exc}").encode(),
                            status=messages.BAD_REQUEST)
        else:
            self.current_slot = slot
            reply = self._reply_to(slot, request)
        reply.write(buffer)
        buffer.release()
        replies.enqueue(index)
        self.stack.counters.bump("ctl.tx.replies")
        return True

    def _reply_to(self, slot: int, request: Message) -> Message:
        def fail(status: int, text: str) -> Message:
            return Message(REPLY, request.request_id, request.type, json.dumps(text).encode(),
                           status=status)

        if request.version != messages.PROTOCOL_VERSION:
            return fail(messages.BAD_VERSION, f"protocol version {request.version}; this stack "
                        f"speaks {messages.PROTOCOL_VERSION}")
        key = (slot, request.request_id)
        if request.offset == 0:
            handler = self.handlers.get(request.type)
            if handler is None:
                return fail(messages.UNKNOWN_TYPE, f"unknown request {request.type!r} "
                            f"(this stack answers: {', '.join(sorted(self.handlers))})")
            try:
                answer = json.dumps(handler(self, request.args)).encode()
            except (ValueError, TypeError, KeyError, LookupError) as exc:
                return fail(messages.FAILED, str(exc))
            except Exception as exc:  # e.g. a ConfigError from sysctl: one line, its own
                return fail(messages.FAILED, str(exc) or type(exc).__name__)
            self.pages[key] = (answer, self.now + PAGES_KEPT_FOR)
        elif key not in self.pages:
            return fail(messages.BAD_REQUEST, "no answer to page through (expired?)")
        answer, _expires = self.pages[key]
        page = answer[request.offset:request.offset + messages.capacity(self.layout.buffer_size)]
        end = request.offset + len(page)
        if end >= len(answer):
            del self.pages[key]
        return Message(REPLY, request.request_id, request.type, page,
                       flags=MORE if end < len(answer) else 0, offset=request.offset,
                       total=len(answer))

    def _count_garbage(self) -> None:
        self.garbage += 1
        self.stack.counters.bump("ctl.drop.bad_request")

    def _forget_old_pages(self, now: float) -> None:
        if self.pages:
            self.pages = {k: v for k, v in self.pages.items() if v[1] > now}
