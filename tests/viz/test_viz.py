"""netstack.viz: the fields it names, and every plot drawn from a live stack's output."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from netstack import viz  # noqa: E402
from netstack.testing import arp_frame, icmp_echo_frame  # noqa: E402
from netstack.wire.arp import OP_REQUEST  # noqa: E402
from tests.stages.common import OUR_MAC, PEER_IP, PEER_MAC, make_harness  # noqa: E402
from tests.stages.tcp.support import Link, two_stacks  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def echo_request() -> bytes:
    return icmp_echo_frame(OUR_MAC, PEER_MAC, PEER_IP, "192.0.2.2", 7, 1, b"ping!")


def test_header_fields_name_every_byte_of_an_echo_request():
    frame = echo_request()
    fields = viz.header_fields(frame)
    named = {(f.layer, f.name): f for f in fields}
    assert (named["IPv4", "ttl"].start, named["IPv4", "ttl"].end) == (22, 23)
    assert named["IPv4", "src"].value == str(PEER_IP)
    assert named["ICMP", "type"].value == "8" and named["ICMP", "seq"].value == "1"
    # contiguous, from the first byte to the last
    assert fields[0].start == 0 and fields[-1].end == len(frame)
    assert all(a.end == b.start for a, b in zip(fields, fields[1:], strict=False))


def test_header_fields_never_raise_on_truncated_frames():
    frame = echo_request()
    for cut in range(len(frame)):
        fields = viz.header_fields(frame[:cut])
        assert all(f.end <= cut for f in fields)


def test_byte_map_draws_one_cell_per_byte(tmp_path):
    frame = echo_request()
    ax = viz.byte_map(frame)
    hex_cells = [t for t in ax.texts if len(t.get_text()) == 2 and t.get_fontfamily() == ["monospace"]]
    assert len(hex_cells) == len(frame)
    path = viz.save_figure(ax.figure, "bytemap", tmp_path)
    first = path.read_bytes()
    viz.save_figure(viz.byte_map(frame).figure, "bytemap", tmp_path)
    assert path.read_bytes() == first, "the same figure must give the same bytes"


def test_ladder_from_a_harness_arp_exchange():
    h = make_harness()
    h.receive(arp_frame(OP_REQUEST, PEER_MAC, PEER_IP, "192.0.2.2"))
    h.drain()
    messages = viz.messages_from_harness(h, "netstack", "kernel")
    assert [(m.src, m.dst) for m in messages] == [("kernel", "netstack"), ("netstack", "kernel")]
    assert messages[0].label == "ARP who-has 192.0.2.2"
    assert messages[0].broadcast and not messages[1].broadcast
    assert messages[1].label.startswith("ARP 192.0.2.2 is-at")
    ax = viz.ladder(messages)
    assert {t.get_text() for t in ax.texts} >= {"kernel", "netstack",
                                                 "ARP who-has 192.0.2.2 (broadcast)"}


def connected_pair(transfer: bytes = b""):
    a, b = two_stacks()
    events = []
    a.trace.subscribe(events.append)
    link = Link(a, b)
    b.tcp.listen(None, 80, backlog=4)
    conn = a.tcp.connect(None, 40000, b.config.address.ip, 80, link.now)
    link.run(0.1)
    send_all(conn, link, transfer)
    return a, conn, link, events


def send_all(conn, link, data: bytes) -> None:
    sent = 0
    while sent < len(data):
        sent += conn.write_app(data[sent:])
        conn.app_did_write(link.now)
        link.run(0.05)
    link.run(2.0)


def test_state_path_and_diagram_of_a_handshake():
    _, _, _, events = connected_pair()
    path = viz.state_path(events)
    assert path == ["CLOSED", "SYN-SENT", "ESTABLISHED"]
    ax = viz.state_diagram(path)
    numbers = [t.get_text() for t in ax.texts if t.get_text().isdigit()]
    assert numbers == ["1", "2"], "each transition of the path is numbered once"


def test_time_sequence_of_a_transfer_plots_every_data_byte():
    data = bytes(20000)
    _, conn, _, events = connected_pair(data)
    ax = viz.time_sequence(events, window_scale=conn.sender.snd_shift)
    bars = [c for c in ax.collections if c.get_label() == "data sent"]
    assert bars, "the data segments are drawn"
    tops = max(seg[1][1] for seg in bars[0].get_segments())
    assert tops == len(data) + 1, "the highest byte drawn is the last one sent (after the SYN)"
    ack_line, window_line = ax.lines[-2], ax.lines[-1]
    assert max(ack_line.get_ydata()) == len(data) + 1, "every byte was acknowledged"
    assert all(w >= a for w, a in zip(window_line.get_ydata(), ack_line.get_ydata(), strict=True))


def test_tcp_info_recorder_follows_the_congestion_window():
    a, b = two_stacks()
    recorder = viz.TcpInfoRecorder(a)
    link = Link(a, b)
    b.tcp.listen(None, 80, backlog=4)
    conn = a.tcp.connect(None, 40000, b.config.address.ip, 80, link.now)
    link.run(0.1)
    send_all(conn, link, bytes(60000))
    recorder.close()
    times, cwnd = recorder.series(field="tcpi_snd_cwnd")
    assert times == sorted(times) and cwnd[-1] > cwnd[0], "slow start grew the window"
    axes = viz.tcp_info_series(recorder.samples[recorder.connections[0]], marks={"x": [0.05]})
    assert len(axes) == 2


def test_tcp_ladder_labels_read_like_tcpdump_with_relative_numbers():
    from netstack.testing import tcp_frame
    from netstack.wire.tcp import FLAG_ACK, FLAG_SYN

    syn = tcp_frame("192.0.2.1", "192.0.2.2", 40000, 80, seq=1000, flags=FLAG_SYN)
    syn_ack = tcp_frame("192.0.2.2", "192.0.2.1", 80, 40000, seq=7, ack=1001,
                        flags=FLAG_SYN | FLAG_ACK)
    data = tcp_frame("192.0.2.1", "192.0.2.2", 40000, 80, seq=1001, ack=8, flags=FLAG_ACK,
                     payload=b"hello")
    labels = [m.label for m in viz.messages_from_frames([(0, syn), (0, syn_ack), (0, data)])]
    assert labels == ["[S] seq 0", "[S.] seq 0 ack 1", "[.] seq 1 ack 1 len 5"]
