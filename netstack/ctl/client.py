"""The tools' side of the control plane: find a stack, claim a slot, ask, wait for the answer.

Every way this can fail is an exception with a one-line message, raised within the
timeout (2 s by default), never a hang or a traceback:

    NoSuchStack       no stack of that name (the message lists those that run)
    StackStarting     the stack exists but is not ready yet
    ControlTimeout    the loop did not answer in time (the message says when it last ran)
    VersionMismatch   the stack speaks another protocol version (another netstack build)
    AccessDenied      the segment belongs to another user
    RemoteError       the stack answered with an error (an unknown request, a bad value)
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import threading
import time
from typing import Any

from netstack.ctl import messages
from netstack.ctl.messages import MORE, REPLY, REQUEST, BadMessage, Message
from netstack.ctl.segment import (
    PROTOCOL_VERSION,
    STARTING,
    Header,
    Segment,
    path_for,
    read_header,
    running_stacks,
)
from netstack.errors import NetstackError

DEFAULT_TIMEOUT = 2.0
_POLL = 0.0005  # seconds between looks at the reply ring while waiting


class ControlError(NetstackError):
    """A tool could not get its answer (the CLI prints it and exits with status 2)."""


class NoSuchStack(ControlError):
    pass


class StackStarting(ControlError):
    pass


class ControlTimeout(ControlError):
    pass


class VersionMismatch(ControlError):
    pass


class AccessDenied(ControlError):
    pass


class RemoteError(ControlError):
    pass


# POSIX record locks belong to the process: two clients in one process would both "get"
# the same slot's lock. So a process also remembers the slots it holds.
_held: set[tuple[str, int]] = set()
_held_lock = threading.Lock()


def choose_stack(name: str | None) -> str:
    """The name of the stack to talk to: `name`, or the only one running."""
    others: list[str] = []  # segments of other users: we cannot tell more than the name
    running = [n for n, _ in running_stacks(others)]
    if name is not None and name in others:
        return name  # connecting says "permission denied", which is the truth
    listed = ", ".join(running) if running else "none; start one with netstack run"
    if name is None:
        if len(running) == 1:
            return running[0]
        if not running:
            raise NoSuchStack("no netstack stack is running (start one with netstack run)")
        raise NoSuchStack(f"several stacks are running ({listed}): choose one with -n NAME")
    if name not in running:
        raise NoSuchStack(f"no stack named {name!r} (running: {listed})")
    return name


class ControlClient:
    def __init__(self, name: str, segment: Segment, header: Header, slot: int) -> None:
        self.name, self.segment, self.header, self.slot = name, segment, header, slot
        self.requests, self.replies = segment.rings(slot)
        per_slot = header.layout.buffers_per_slot
        self.free = list(range(slot * per_slot, (slot + 1) * per_slot))  # this slot's buffers
        self.next_id = random.randrange(1, 2**31)

    @classmethod
    def connect(cls, name: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> ControlClient:
        deadline = time.monotonic() + timeout
        name = choose_stack(name)
        path = path_for(name)
        try:
            segment, header = Segment.open(path)
        except PermissionError:
            owner = _owner(path)
            raise AccessDenied(f"permission denied: stack {name!r} belongs to {owner} "
                               "(run the tool as that user)") from None
        except FileNotFoundError:
            raise NoSuchStack(f"stack {name!r} just exited") from None
        if header.version != PROTOCOL_VERSION:
            segment.close()
            raise VersionMismatch(f"stack {name!r} speaks control protocol version "
                                  f"{header.version}, this tool {PROTOCOL_VERSION}: use the "
                                  "netstack that started it")
        if header.state == STARTING:
            segment.close()
            raise StackStarting(f"stack {name!r} is starting: try again in a moment")
        slot = _claim_slot(name, segment)
        client = cls(name, segment, header, slot)
        try:
            client._wait_until_served(deadline)
        except BaseException:
            client.close()
            raise
        return client

    def _wait_until_served(self, deadline: float) -> None:
        generation = (self.segment.generations(self.slot)[0] + 1) & 0xFFFFFFFF
        self.segment.set_generation(self.slot, generation)
        self.segment.ring_doorbell()
        while self.segment.generations(self.slot)[1] != generation:
            self._check_deadline(deadline)
            time.sleep(_POLL)

    def _check_deadline(self, deadline: float) -> None:
        if time.monotonic() < deadline:
            return
        header = read_header(self.segment.memory)
        ago = time.time() - header.progress if header.progress else None
        last = (f"its loop last ran {ago:.1f} s ago ({header.passes} passes)"
                if ago is not None else "its loop has not run yet")
        raise ControlTimeout(f"stack {self.name!r} did not answer in time: {last}")

    def request(self, type: str, args: dict[str, Any] | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Ask, gather every page of the answer, return it decoded from JSON."""
        deadline = time.monotonic() + timeout
        request_id = self.next_id
        self.next_id = self.next_id % (2**31) + 1
        payload = json.dumps(args or {}).encode()
        answer, offset = bytearray(), 0
        while True:
            reply = self._exchange(Message(REQUEST, request_id, type, payload, offset=offset),
                                   deadline)
            if reply.status != messages.OK:
                raise RemoteError(f"stack {self.name!r}: {json.loads(reply.payload)}")
            answer += reply.payload
            if not reply.flags & MORE:
                return json.loads(answer)
            offset = reply.offset + len(reply.payload)
            payload = b""

    def _exchange(self, message: Message, deadline: float) -> Message:
        if not self.free:
            raise ControlTimeout(f"stack {self.name!r}: every buffer of this tool's slot is "
                                 "still waiting for an answer")
        index: int | None = self.free.pop()
        try:
            buffer = self.segment.buffer(index)
            message.write(buffer)
            buffer.release()
            if not self.requests.enqueue(index):
                raise ControlTimeout(f"stack {self.name!r}: the request ring is full")
            self.segment.ring_doorbell()  # a busy loop answers in its next pass
            index = None  # the loop's until it answers, in this same buffer
            while True:
                got = self.replies.dequeue()
                if got is None:
                    self._check_deadline(deadline)
                    time.sleep(_POLL)
                    continue
                reply = self._read_reply(got)
                if reply is not None and reply.request_id == message.request_id:
                    index = got
                    return reply
                if self.segment.owner_of(got) == self.slot:
                    self.free.append(got)  # the answer to a request we gave up on
        finally:
            if index is not None:
                self.free.append(index)

    def _read_reply(self, index: int) -> Message | None:
        if self.segment.owner_of(index) != self.slot:
            return None
        buffer = self.segment.buffer(index)
        try:
            return messages.read(buffer, REPLY)
        except BadMessage:
            return None
        finally:
            buffer.release()

    def close(self) -> None:
        try:
            fcntl.lockf(self.segment.fd, fcntl.LOCK_UN, 1, self.segment.lease_offset(self.slot))
        finally:
            with _held_lock:
                _held.discard((self.name, self.slot))
            self.requests = self.replies = None
            self.segment.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _claim_slot(name: str, segment: Segment) -> int:
    for slot in range(segment.layout.slots):
        with _held_lock:
            if (name, slot) in _held:
                continue
            try:
                fcntl.lockf(segment.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1,
                            segment.lease_offset(slot))
            except OSError:
                continue  # another process holds it
            _held.add((name, slot))
            return slot
    segment.close()
    raise ControlError(f"stack {name!r}: all {segment.layout.slots} tool slots are in use")


def _owner(path) -> str:
    try:
        import pwd

        return pwd.getpwuid(os.stat(path).st_uid).pw_name
    except (OSError, KeyError):
        return "another user"
