"""TCP_INFO through the socket API: sock.info() and getsockopt(IPPROTO_TCP, TCP_INFO), on two
Hosts joined by a memory cable (the loss case is tests/stages/tcp/test_tcp_info.py)."""

from __future__ import annotations

import errno

import pytest

from netstack import api
from netstack.stages.tcp.info import INFINITE_SSTHRESH, TcpInfo
from tests.api.tcp_fixtures import TEST_TCP_CONFIG, recv_all, run_in_thread, wait_for


def test_a_fresh_connection_reports_its_state_and_handshake_values(connection):
    info = connection.client.getsockopt(api.IPPROTO_TCP, api.TCP_INFO)
    assert isinstance(info, TcpInfo)
    assert info.tcpi_state == 1 and info.state_name == "ESTABLISHED"
    assert info.tcpi_snd_mss == info.tcpi_advmss - 12 == 1448  # MTU 1500, timestamps on
    assert info.tcpi_snd_cwnd == 10 and info.tcpi_snd_ssthresh == INFINITE_SSTHRESH
    assert info.tcpi_congestion == "newreno"
    # The handshake's sample (it may round to 0 us on a memory cable).
    sock = connection.client
    srtt = sock.host.call(lambda stack, now: sock._conn.sender.rto.srtt)
    assert srtt is not None and info.tcpi_rtt == round(srtt * 1e6)
    assert info.tcpi_min_rtt <= info.tcpi_rtt
    assert info.tcpi_rto >= TEST_TCP_CONFIG.min_rto * 1e6
    assert info.tcpi_total_retrans == info.tcpi_bytes_sent == 0
    assert connection.server.info().tcpi_segs_in >= 2  # the SYN and the ACK


def test_byte_and_segment_counters_follow_a_transfer(connection):
    payload = bytes(range(256)) * 1024
    receive = run_in_thread(lambda: recv_all(connection.server))
    connection.client.sendall(payload)
    connection.client.shutdown(api.SHUT_WR)
    assert receive() == payload
    # The peer's ACK of our FIN is the last thing to arrive: then all is acknowledged.
    wait_for(lambda: connection.client.info().state_name == "FIN-WAIT-2", "the FIN's ACK")
    sender, receiver = connection.client.info(), connection.server.info()
    assert sender.tcpi_bytes_acked == len(payload)  # the FIN is not data
    assert sender.tcpi_bytes_sent == len(payload) + sender.tcpi_bytes_retrans
    assert receiver.tcpi_bytes_received == len(payload)
    assert sender.tcpi_segs_out >= len(payload) // sender.tcpi_snd_mss
    assert receiver.tcpi_segs_in >= sender.tcpi_segs_out - sender.tcpi_total_retrans - 2
    assert sender.tcpi_notsent_bytes == 0 and sender.tcpi_unacked == 0
    assert sender.state_name == "FIN-WAIT-2" and receiver.state_name == "CLOSE-WAIT"
    assert 0 <= sender.tcpi_last_data_sent < 10_000  # milliseconds
    assert sender.tcpi_delivery_rate > 0


def test_a_socket_without_a_connection_has_no_tcp_info(tcp_hosts):
    sock = tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM)
    try:
        with pytest.raises(OSError) as caught:
            sock.getsockopt(api.IPPROTO_TCP, api.TCP_INFO)
        assert caught.value.errno == errno.ENOTCONN
    finally:
        sock.close()
