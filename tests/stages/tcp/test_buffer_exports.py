"""Sending leaves no view of a buffer behind, whoever keeps the frames that sent.

The acknowledged bytes are deleted from the front of the send buffer, a bytearray, which
CPython refuses while any memoryview of it is alive ("Existing exports of data"). A segment's
payload is a view of the buffer, and a frame object outliving its call keeps its locals:
a profiler thread sampling frames (dask's workers run one) made a campaign run fail that way.
So the views are released explicitly, not left to the end of the call.
"""

import sys

from .support import B_IP, Link, two_stacks


def test_the_send_buffer_stays_resizable_while_the_frames_that_sent_live_on():
    a, b = two_stacks()
    link = Link(a, b, delay=0.001)
    listener = b.tcp.listen(None, 7, 4)
    conn = a.tcp.connect(None, 0, B_IP, 7, 0.0)
    link.run_until(lambda: bool(listener.accept_queue))
    kept = []  # every frame that sent or copied bytes, as a sampling profiler would hold them

    def keep(frame, event, arg):
        if event == "call" and frame.f_code.co_name in ("emit", "send_fields", "write_app"):
            kept.append(frame)

    written = bytearray(10_000)
    sys.setprofile(keep)
    try:
        taken = conn.write_app(written)
        conn.app_did_write(link.now)
    finally:
        sys.setprofile(None)
    assert taken == 10_000 and {f.f_code.co_name for f in kept} >= {"emit", "send_fields"}
    del conn.send_stream.data[:1000]  # raised BufferError while a kept frame held a view
    written += b"more"  # and the application's own buffer is its own again
