"""Choosing the congestion control: TCP_CONGESTION per socket (as on Linux), the stack-wide
TcpConfig.congestion_control, and `netstack run --tcp-congestion`."""

from __future__ import annotations

import dataclasses
import errno
import sys

import pytest

from netstack import api
from netstack.api import Host
from netstack.config import build_run_options
from netstack.errors import ConfigError
from netstack.stages.tcp.congestion import Reno
from netstack.stages.tcp.cubic import Cubic
from tests.api.tcp_fixtures import (
    CLIENT_IP,
    SERVER_IP,
    TEST_TCP_CONFIG,
    TIMEOUT,
    TcpPair,
    connect_pair,
    recv_all,
    run_in_thread,
)
from tests.netns import unique_name


def name_of(sock, buflen=16):
    return sock.getsockopt(api.IPPROTO_TCP, api.TCP_CONGESTION, buflen)


def algorithm_of(sock):
    """The congestion control object of the socket's connection, read on the loop thread."""
    return sock.host.call(lambda stack, now: sock._conn.sender.cc)


def test_default_is_newreno_and_the_name_reads_back_nul_padded(tcp_hosts):
    with tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM) as sock:
        assert name_of(sock) == b"newreno".ljust(16, b"\0")
        assert name_of(sock, 4) == b"newr"  # cut to the caller's buffer, like Linux
        sock.setsockopt(api.IPPROTO_TCP, api.TCP_CONGESTION, b"cubic")
        assert name_of(sock) == b"cubic" + b"\0" * 11
        assert name_of(sock, 64) == b"cubic" + b"\0" * 11  # never more than TCP_CA_NAME_MAX
        assert sock.getsockopt(api.IPPROTO_TCP, api.TCP_CONGESTION) == int.from_bytes(
            b"cubi", sys.byteorder)  # without a length: the first four bytes as an int
        sock.setsockopt(api.IPPROTO_TCP, api.TCP_CONGESTION, b"newreno\0")  # a C string
        assert name_of(sock).rstrip(b"\0") == b"newreno"


def test_unknown_names_are_enoent_and_the_setting_is_kept(tcp_hosts):
    with tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM) as sock:
        for bad in (b"bbr", b"", b"cubicx", b"x" * 40, 1):
            with pytest.raises(OSError) as info:
                sock.setsockopt(api.IPPROTO_TCP, api.TCP_CONGESTION, bad)
            assert info.value.errno == errno.ENOENT
        with pytest.raises(TypeError):
            sock.setsockopt(api.IPPROTO_TCP, api.TCP_CONGESTION, "cubic")  # bytes, as stdlib
        assert name_of(sock).rstrip(b"\0") == b"newreno"


def test_per_socket_choice_reaches_the_connection_and_accept_inherits_it(tcp_hosts):
    listener = tcp_hosts.server.socket(api.AF_INET, api.SOCK_STREAM)
    listener.setsockopt(api.IPPROTO_TCP, api.TCP_CONGESTION, b"cubic")
    listener.bind(("", 7300))
    listener.listen(2)
    listener.settimeout(TIMEOUT)
    cubic_client = tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM)
    cubic_client.setsockopt(api.IPPROTO_TCP, api.TCP_CONGESTION, b"cubic")
    plain_client = tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM)
    try:
        for sock in (cubic_client, plain_client):
            sock.settimeout(TIMEOUT)
            sock.connect((SERVER_IP, 7300))
        accepted = [listener.accept()[0] for _ in range(2)]
        assert type(algorithm_of(cubic_client)) is Cubic
        assert type(algorithm_of(plain_client)) is Reno  # its neighbour's choice is its own
        for server in accepted:
            assert name_of(server).rstrip(b"\0") == b"cubic"
            assert type(algorithm_of(server)) is Cubic
            server.close()
    finally:
        for sock in (cubic_client, plain_client, listener):
            sock.close()


def test_changing_it_on_an_open_connection_switches_and_keeps_the_window(connection):
    before = algorithm_of(connection.client)
    assert type(before) is Reno
    connection.client.setsockopt(api.IPPROTO_TCP, api.TCP_CONGESTION, b"cubic")
    after = algorithm_of(connection.client)
    assert type(after) is Cubic
    assert (after.cwnd, after.ssthresh) == (before.cwnd, before.ssthresh)
    payload = bytes(range(256)) * 4096
    receive = run_in_thread(lambda: recv_all(connection.server))
    connection.client.sendall(payload)
    connection.client.shutdown(api.SHUT_WR)
    assert receive() == payload


def test_cubic_carries_a_stream_intact_over_a_lossy_link():
    cable = unique_name("cubic")
    hosts = []
    try:
        for ip in (CLIENT_IP, SERVER_IP):
            hosts.append(Host.open(f"memory:{cable}?loss=0.02&seed=7", f"{ip}/24",
                                   pool_size=4096, tcp=TEST_TCP_CONFIG))
        client_host, server_host = hosts
        listener = server_host.socket(api.AF_INET, api.SOCK_STREAM)
        listener.setsockopt(api.IPPROTO_TCP, api.TCP_CONGESTION, b"cubic")
        listener.bind(("", 7301))
        listener.listen(1)
        listener.settimeout(TIMEOUT)
        client = client_host.socket(api.AF_INET, api.SOCK_STREAM)
        client.setsockopt(api.IPPROTO_TCP, api.TCP_CONGESTION, b"cubic")
        client.settimeout(TIMEOUT)
        client.connect((SERVER_IP, 7301))
        server, _ = listener.accept()
        server.settimeout(TIMEOUT)
        payload = bytes(i * 7 % 251 for i in range(512 * 1024))
        receive = run_in_thread(lambda: recv_all(server))
        client.sendall(payload)
        client.shutdown(api.SHUT_WR)
        assert receive() == payload
        cc = algorithm_of(client)
        assert type(cc) is Cubic and cc.w_max is not None  # it reacted to a loss
        assert client_host.engine.stack.counters["tcp.tx.retransmits"] > 0  # loss was met
        for sock in (client, server, listener):
            sock.close()
    finally:
        for host in hosts:
            host.close()


def test_the_stack_wide_default_comes_from_the_config():
    cable = unique_name("cubicdef")
    config = dataclasses.replace(TEST_TCP_CONFIG, congestion_control="cubic")
    hosts = [Host.open(f"memory:{cable}", f"{ip}/24", pool_size=1024, tcp=config)
             for ip in (CLIENT_IP, SERVER_IP)]
    try:
        conn = connect_pair(TcpPair(*hosts), port=7302)
        try:
            assert name_of(conn.client).rstrip(b"\0") == b"cubic"
            assert type(algorithm_of(conn.client)) is Cubic
            assert type(algorithm_of(conn.server)) is Cubic
        finally:
            conn.close()
    finally:
        for host in hosts:
            host.close()


def test_so_rcvbuf_set_by_the_application_turns_autotuning_off(connection):
    assert not connection.client._conn.options.rcvbuf_locked
    connection.client.setsockopt(api.SOL_SOCKET, api.SO_RCVBUF, 100000)
    assert connection.client._conn.options.rcvbuf_locked
    assert connection.client.getsockopt(api.SOL_SOCKET, api.SO_RCVBUF) == 100000


def test_netstack_run_takes_tcp_congestion_from_flags_and_files():
    flags = {"port": "memory:x", "ip": "192.0.2.2/24", "tcp_congestion": "cubic"}
    options = build_run_options(flags)
    assert options.stack_config().tcp.congestion_control == "cubic"
    assert 'tcp_congestion = "cubic"' in options.describe()
    default = build_run_options({"port": "memory:x", "ip": "192.0.2.2/24"})
    assert default.stack_config().tcp.congestion_control == "newreno"
    from_file = build_run_options({"port": "memory:x", "ip": "192.0.2.2/24"},
                                  {"tcp_congestion": "cubic"})
    assert from_file.tcp_congestion == "cubic"
    with pytest.raises(ConfigError, match="congestion"):
        build_run_options({**flags, "tcp_congestion": "vegas"})
