"""Zero-copy send between two stacks on the memory link: the payload is written into pool
mbufs and those very mbufs go out; the copy ledger shows what still copies."""

from __future__ import annotations

import hashlib
import threading

import pytest

from netstack.api import AF_INET, SO_LINGER, SOCK_STREAM, SOL_SOCKET, Host
from tests.api.tcp_fixtures import CLIENT_IP, SERVER_IP, TEST_TCP_CONFIG, TIMEOUT, wait_for
from tests.netns import unique_name

MIB = 1 << 20


def open_hosts(receiver_link: str = ""):
    """Client (the sender) and server; `receiver_link` impairs what the server receives."""
    cable = unique_name("zc")
    client = Host.open(f"memory:{cable}", f"{CLIENT_IP}/24", pool_size=4096,
                       tcp=TEST_TCP_CONFIG)
    server = Host.open(f"memory:{cable}{receiver_link}", f"{SERVER_IP}/24", pool_size=4096,
                       tcp=TEST_TCP_CONFIG)
    return client, server


def connected(client, server, port: int = 5001):
    listener = server.socket(AF_INET, SOCK_STREAM)
    listener.bind(("0.0.0.0", port))
    listener.listen(4)
    sender = client.socket(AF_INET, SOCK_STREAM)
    sender.settimeout(TIMEOUT)
    sender.connect((SERVER_IP, port))
    receiver, _ = listener.accept()
    receiver.settimeout(TIMEOUT)
    listener.close()
    return sender, receiver


def receive_all(sock, total: int, into: dict) -> threading.Thread:
    def run() -> None:
        digest, got = hashlib.sha256(), 0
        while got < total:
            chunk = sock.recv(65536)
            if not chunk:
                break
            digest.update(chunk)
            got += len(chunk)
        into["sha256"], into["bytes"] = digest.hexdigest(), got

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def payload(total: int) -> bytes:
    return bytes((i * 7 + i // 251) & 0xFF for i in range(total))


def send_zero_copy(sender, data: bytes) -> int:
    """Send `data` with zc_send, in buffers of whole segments; the number of zc_sends."""
    probe = sender.zc_alloc(1)
    per_send = probe.segment * 40
    probe.release()
    sends, at = 0, 0
    while at < len(data):
        buf = sender.zc_alloc(min(per_send, len(data) - at))
        for view in buf.views():
            view[:] = data[at:at + len(view)]
            at += len(view)
            view.release()
        sender.zc_send(buf)
        sends += 1
    return sends


def copies(host) -> dict[str, int]:
    return {k: v for k, v in host.counters.snapshot().items() if k.startswith("copy.")}


def test_a_mebibyte_by_zc_send_arrives_intact_and_the_sender_copies_nothing():
    client, server = open_hosts()
    try:
        data = payload(MIB)
        sender, receiver = connected(client, server)
        got: dict = {}
        reader = receive_all(receiver, MIB, got)
        baseline = client.stack.pool.available + 0
        sends = send_zero_copy(sender, data)
        reader.join(TIMEOUT)
        assert got == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": MIB}
        wait_for(lambda: sender.info().tcpi_unacked == 0, "every byte acknowledged")
        ledger = copies(client)
        assert ledger.get("copy.app_to_sndbuf", 0) == 0
        assert ledger.get("copy.sndbuf_to_mbuf", 0) == 0 and ledger.get("copy.resegment", 0) == 0
        assert client.counters["tcp.tx.zero_copy_bytes"] == MIB
        wait_for(lambda: client.stack.pool.available >= baseline, "the mbufs back in the pool")
        assert sender.zc_completions() == [(0, sends - 1, False)]
        assert copies(server)["copy.rcvbuf_to_app"] == MIB
        assert copies(server)["copy.mbuf_to_rcvbuf"] == MIB, "each byte received copied once"
        assert copies(client)["copy.port_tx"] >= MIB, "the memory cable copies every frame"

        # The same transfer with send(): the ledger counts each copy.
        sender2, receiver2 = connected(client, server, 5002)
        got2: dict = {}
        reader2 = receive_all(receiver2, MIB, got2)
        sender2.sendall(data)
        reader2.join(TIMEOUT)
        assert got2["sha256"] == got["sha256"]
        after = copies(client)
        assert after["copy.app_to_sndbuf"] == MIB
        assert after["copy.sndbuf_to_mbuf"] >= MIB
        for sock in (sender, receiver, sender2, receiver2):
            sock.close()
    finally:
        client.close()
        server.close()


def test_under_loss_retransmissions_reuse_the_payload_mbufs():
    client, server = open_hosts("?loss=0.05&seed=3")
    try:
        data = payload(MIB // 2)
        sender, receiver = connected(client, server)
        got: dict = {}
        reader = receive_all(receiver, len(data), got)
        baseline = client.stack.pool.available
        send_zero_copy(sender, data)
        reader.join(3 * TIMEOUT)
        assert got["sha256"] == hashlib.sha256(data).hexdigest()
        assert sender.info().tcpi_total_retrans > 0, "the link lost some"
        assert client.counters["tcp.tx.zero_copy_bytes"] > len(data), \
            "resent segments went out from the same mbufs"
        wait_for(lambda: sender.info().tcpi_unacked == 0, "every byte acknowledged")
        wait_for(lambda: client.stack.pool.available >= baseline, "the mbufs back in the pool")
        sender.close()
        receiver.close()
    finally:
        client.close()
        server.close()


def test_back_pressure_keeps_the_buffer_intact_and_an_abort_returns_every_mbuf():
    """F-Stack #712: a zero-copy send larger than the room left must neither crash nor
    hang: the non-blocking socket gets BlockingIOError and keeps its buffer."""
    client, server = open_hosts()
    try:
        sender, receiver = connected(client, server)  # the receiver reads nothing yet
        baseline = client.stack.pool.available
        sender.setblocking(False)
        filled = 0
        with pytest.raises(BlockingIOError):
            while True:
                buf = sender.zc_alloc(sender.zc_alloc(1).segment * 20)
                for view in buf.views():
                    view[:] = b"z" * len(view)
                    view.release()
                sender.zc_send(buf)
                filled += len(buf)
        assert filled > 0
        views = buf.views()  # still the application's, contents intact
        assert all(bytes(v) == b"z" * len(v) for v in views)
        with pytest.raises(BufferError):
            sender.zc_send(buf)  # a view is still exported
        for v in views:
            v.release()
        buf.release()
        with pytest.raises(ValueError):
            buf.views()  # given back: not the application's any more
        sender.setsockopt(SOL_SOCKET, SO_LINGER, (1).to_bytes(4, "little") + bytes(4))
        sender.close()  # abortive: RST, and the unacknowledged mbufs go back
        wait_for(lambda: client.stack.pool.available >= baseline, "every mbuf back after the abort")
        receiver.close()
    finally:
        client.close()
        server.close()


def test_netstack_pool_counts_zero_copy_mbufs_where_they_are():
    from types import SimpleNamespace

    from netstack.ctl.perf import pool

    client, server = open_hosts()
    try:
        sender, receiver = connected(client, server)
        server_view = SimpleNamespace(engine=client.engine, stack=client.stack)

        def owners() -> dict:
            answer = client.engine.call(lambda stack, now: pool(server_view, {}))
            return {o["owner"]: o["mbufs"] for o in answer["owners"]} | {"in_use": answer["in_use"]}

        buf = sender.zc_alloc(buf_size := sender.zc_alloc(1).segment * 8)
        assert len(buf) == buf_size
        lent = owners()
        assert lent["application"] == 8 and lent["unaccounted"] == 0
        for view in buf.views():
            view[:] = bytes(len(view))
            view.release()
        sender.zc_send(buf)
        wait_for(lambda: owners()["application"] == 0, "the buffer handed over")
        after = owners()
        assert after["unaccounted"] == 0 and after["application"] == 0
        assert sum(v for k, v in after.items() if k != "in_use") == after["in_use"]
        receiver.close()
        sender.close()
    finally:
        client.close()
        server.close()


def test_the_ledger_counts_udp_copies_each_way():
    from netstack.api import SOCK_DGRAM

    client, server = open_hosts()
    try:
        receiver = server.socket(AF_INET, SOCK_DGRAM)
        receiver.bind(("0.0.0.0", 5300))
        receiver.settimeout(TIMEOUT)
        sender = client.socket(AF_INET, SOCK_DGRAM)
        for size in (100, 1000):
            sender.sendto(bytes(size), (SERVER_IP, 5300))
            assert len(receiver.recv(2000)) == size
        wait_for(lambda: copies(client).get("copy.sndbuf_to_mbuf") == 1100, "the sends counted")
        assert copies(client)["copy.app_to_sndbuf"] == 1100
        assert copies(server)["copy.mbuf_to_rcvbuf"] == 1100
        sender.close()
        receiver.close()
    finally:
        client.close()
        server.close()
