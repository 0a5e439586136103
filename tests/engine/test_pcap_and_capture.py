"""pcap files: our reader/writer, the pcap port's replay, and --capture output read by scapy."""

import pytest

from netstack.clock import VirtualClock
from netstack.engine.capture import Capture
from netstack.engine.loop import Engine
from netstack.engine.pcapfile import PcapWriter, read_pcap
from netstack.engine.ports import open_port
from netstack.errors import ConfigError
from netstack.mbuf import MbufPool
from tests.engine.fakes import EchoStack

scapy = pytest.importorskip("scapy.all")

STACK_MAC = "02:00:00:00:00:0a"
PEER_MAC = "02:00:00:00:00:0b"


def peer_frames(n: int) -> list:
    frames = []
    for i in range(n):
        f = scapy.Ether(dst=STACK_MAC, src=PEER_MAC, type=0x88B5) / scapy.Raw(b"ping %d" % i)
        f.time = 1_700_000_000 + i / 10
        frames.append(f)
    return frames


def test_our_writer_is_read_by_scapy_and_our_reader_reads_scapy(tmp_path):
    ours = tmp_path / "ours.pcap"
    writer = PcapWriter(str(ours))
    frames = [bytes(f) for f in peer_frames(3)]
    for i, f in enumerate(frames):
        writer.write(f, 1_700_000_000 + i * 0.25)
    writer.close()
    packets = scapy.rdpcap(str(ours))
    assert [bytes(p) for p in packets] == frames
    assert float(packets[1].time) == pytest.approx(1_700_000_000.25)

    theirs = tmp_path / "theirs.pcap"
    scapy.wrpcap(str(theirs), peer_frames(3))
    assert [f for _, f in read_pcap(str(theirs))] == frames


def test_reading_a_file_that_is_not_pcap_is_a_config_error(tmp_path):
    bogus = tmp_path / "bogus.pcap"
    bogus.write_bytes(b"this is not a capture file at all")
    with pytest.raises(ConfigError, match="not a classic pcap file"):
        list(read_pcap(str(bogus)))
    with pytest.raises(ConfigError, match="cannot read pcap file"):
        open_port(f"pcap:{tmp_path / 'missing.pcap'}")


def replay(tmp_path, frames, capture: Capture | None = None) -> EchoStack:
    inp, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    scapy.wrpcap(str(inp), frames)
    pool = MbufPool(64)
    stack = EchoStack(pool, bytes.fromhex(STACK_MAC.replace(":", "")))
    port = open_port(f"pcap:{inp},{out}")
    engine = Engine(stack, port, pool, clock=VirtualClock(), capture=capture, burst=4)
    engine.run()  # returns by itself once the capture is replayed and the replies sent
    engine.close()
    assert pool.available == len(pool)
    return stack


def test_pcap_port_replays_frames_and_writes_the_replies(tmp_path):
    stack = replay(tmp_path, peer_frames(10))
    assert len(stack.received) == 10
    replies = scapy.rdpcap(str(tmp_path / "out.pcap"))
    assert [bytes(p[scapy.Raw]) for p in replies] == [b"pong %d" % i for i in range(10)]
    assert all(p.dst == PEER_MAC and p.src == STACK_MAC for p in replies)


def test_pcap_port_output_is_reproducible(tmp_path):
    replay(tmp_path, peer_frames(5))
    first = (tmp_path / "out.pcap").read_bytes()
    replay(tmp_path, peer_frames(5))
    assert (tmp_path / "out.pcap").read_bytes() == first


def test_capture_records_what_was_received_and_sent_in_order(tmp_path):
    capture = Capture(str(tmp_path / "capture.pcap"))
    replay(tmp_path, peer_frames(3), capture=capture)
    packets = scapy.rdpcap(str(tmp_path / "capture.pcap"))
    payloads = [bytes(p[scapy.Raw]) for p in packets]
    # burst=4: the three pings arrive in one pass, then the three pongs leave.
    assert payloads == [b"ping 0", b"ping 1", b"ping 2", b"pong 0", b"pong 1", b"pong 2"]


def test_capture_points_other_than_the_port_get_their_own_file(tmp_path):
    capture = Capture(str(tmp_path / "run.pcap"))
    capture.record(bytes(peer_frames(1)[0]), 0.0, point="ipv4.rx")
    capture.close()
    assert (tmp_path / "run-ipv4.rx.pcap").exists()
    assert len(scapy.rdpcap(str(tmp_path / "run-ipv4.rx.pcap"))) == 1
    assert len(scapy.rdpcap(str(tmp_path / "run.pcap"))) == 0
