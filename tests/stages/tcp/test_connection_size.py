"""A connection stays small: a server holds 10,000 idle ones (netstack bench's hold row).

CPython shares one table of attribute names between the instances of a class only while a
class has fewer than 30 attributes; past that every connection pays ~1.3 KB more for its
own dictionary. The sender has the most state, so it uses __slots__ instead.
"""

import sys

from .support import B_IP, Link, two_stacks

SHARED_KEYS_LIMIT = 30  # CPython 3.11+: SHARED_KEYS_MAX_SIZE


def established_connection():
    a, b = two_stacks()
    link = Link(a, b, delay=0.001)
    listener = b.tcp.listen(None, 7, 4)
    conn = a.tcp.connect(None, 0, B_IP, 7, 0.0)
    link.run_until(lambda: bool(listener.accept_queue))
    return conn


def test_a_connection_keeps_fewer_attributes_than_cpython_shares_keys_for():
    conn = established_connection()
    assert len(vars(conn)) < SHARED_KEYS_LIMIT, sorted(vars(conn))
    assert sys.getsizeof(vars(conn)) < 600  # a shared-key dict, not a table of its own


def test_the_sender_and_its_counters_have_slots_and_no_dict():
    conn = established_connection()
    assert not hasattr(conn.sender, "__dict__")
    assert not hasattr(conn.stats, "__dict__")
    assert len(vars(conn.receiver)) < SHARED_KEYS_LIMIT
