"""Lab 5, part 4: udpkv, a tiny key-value service over UDP (its protocol is in the
handout and in udpkv.py's docstring). handle() is the protocol; serve() and query() are
the socket loops, graded here with a fake socket (the real step runs them on real ones)."""

from __future__ import annotations

from lab05_bench import FakeSocket, NoMoreDatagrams, ServiceLog


def ask(log: ServiceLog, store: dict, request: bytes, expected: bytes) -> None:
    reply = log.call("handle", request, store)
    log.expect(f"the reply to {request!r}", reply, expected)


def test_set_then_get_returns_the_value(variant):
    """SET stores, GET answers VALUE <value>."""
    log, store = ServiceLog(variant), {}
    value = f"v{variant.stack_seed}".encode()
    ask(log, store, b"SET answer " + value, b"OK")
    ask(log, store, b"GET answer", b"VALUE " + value)


def test_get_of_a_missing_key_is_notfound(variant):
    """GET of a key never set: NOTFOUND."""
    ask(ServiceLog(variant), {}, b"GET nothing", b"NOTFOUND")


def test_a_value_keeps_its_spaces_and_set_overwrites(variant):
    """The value is the rest of the datagram; a second SET replaces the first."""
    log, store = ServiceLog(variant), {}
    ask(log, store, b"SET k first value", b"OK")
    ask(log, store, b"SET k  two  spaces ", b"OK")
    ask(log, store, b"GET k", b"VALUE  two  spaces ")


def test_an_empty_value_is_a_value(variant):
    """SET k (with nothing after the key) stores b""; GET answers "VALUE "."""
    log, store = ServiceLog(variant), {}
    ask(log, store, b"SET k", b"OK")
    ask(log, store, b"GET k", b"VALUE ")


def test_del_removes_and_answers_deleted_then_notfound(variant):
    """DEL of a key present: DELETED; again: NOTFOUND; GET: NOTFOUND."""
    log, store = ServiceLog(variant), {}
    ask(log, store, b"SET k v", b"OK")
    ask(log, store, b"DEL k", b"DELETED")
    ask(log, store, b"DEL k", b"NOTFOUND")
    ask(log, store, b"GET k", b"NOTFOUND")


def test_unknown_commands_and_malformed_requests_are_errors(variant):
    """Each of these gets a reply starting with "ERROR " and changes nothing."""
    log, store = ServiceLog(variant), {b"k": b"v"}
    for request in (b"", b"PUT k v", b"get k", b"GET", b"SET", b"GET k extra",
                    b"GET " + b"x" * 65, b"SET k " + b"v" * 1025):
        reply = log.call("handle", request, store)
        log.expect(f"the reply to {request[:20]!r} starts with ERROR",
                   isinstance(reply, bytes) and reply.startswith(b"ERROR "), True)
    log.expect("the store", store, {b"k": b"v"})


def test_the_longest_key_and_value_are_accepted(variant):
    """A 64-byte key and a 1024-byte value are within the limits."""
    log, store = ServiceLog(variant), {}
    key, value = b"k" * 64, b"v" * 1024
    ask(log, store, b"SET " + key + b" " + value, b"OK")
    ask(log, store, b"GET " + key, b"VALUE " + value)


def test_serve_answers_each_request_to_its_sender(variant):
    """Two clients: each reply goes to the address the request came from."""
    log = ServiceLog(variant)
    a = (str(variant.peer_ip), variant.peer_port)
    b = (str(variant.other_ip), variant.peer_port ^ 1)
    sock = FakeSocket(log, [(b"SET x 1", a), (b"GET x", b), (b"GET y", a)])
    log.call("serve", sock, {}, 3)
    log.expect("what serve sent", sock.sent,
               [(b"OK", a), (b"VALUE 1", b), (b"NOTFOUND", a)])


def test_serve_uses_the_store_it_is_given(variant):
    """serve(sock, store): GET finds what the store held before."""
    log = ServiceLog(variant)
    client = (str(variant.peer_ip), variant.peer_port)
    sock = FakeSocket(log, [(b"GET answer", client)])
    log.call("serve", sock, {b"answer": b"42"}, 1)
    log.expect("what serve sent", sock.sent, [(b"VALUE 42", client)])


def test_serve_without_a_count_runs_until_the_socket_fails(variant):
    """count None: serve keeps answering (here until the fake socket runs dry)."""
    log = ServiceLog(variant)
    client = (str(variant.peer_ip), variant.peer_port)
    sock = FakeSocket(log, [(b"SET a b", client)] * 3)
    log.call("serve", sock, None, None, allow=NoMoreDatagrams)
    log.expect("replies sent", len(sock.sent), 3)


def test_query_sends_the_request_and_returns_the_servers_reply(variant):
    """query: one sendto to the server, then its reply."""
    log = ServiceLog(variant)
    server = (str(variant.peer_ip), variant.stack_port)
    sock = FakeSocket(log, [(b"VALUE 42", server)])
    reply = log.call("query", sock, server, b"GET answer")
    log.expect("the reply", reply, b"VALUE 42")
    log.expect("what query sent", sock.sent, [(b"GET answer", server)])


def test_query_ignores_datagrams_from_anyone_else(variant):
    """A stranger's datagram (another host, or the server's address on another port)
    arrives first: it is not the answer."""
    log = ServiceLog(variant)
    server = (str(variant.peer_ip), variant.stack_port)
    sock = FakeSocket(log, [(b"VALUE forged", (str(variant.other_ip), variant.stack_port)),
                            (b"VALUE forged too", (str(variant.peer_ip), variant.stack_port ^ 1)),
                            (b"VALUE real", server)])
    reply = log.call("query", sock, server, b"GET k")
    log.expect("the reply", reply, b"VALUE real")
