"""poll() and epoll() over stack sockets: one thread watching many sockets."""

import errno
import threading

import pytest

from netstack import api

from .conftest import B_IP, wait_until

TIMEOUT = 5.0
SOCKETS = 20


@pytest.fixture
def many(hosts):
    """SOCKETS bound server sockets on b (ports 7000...), a client on a, and the pair."""
    servers = []
    for n in range(SOCKETS):
        sock = hosts.b.socket(api.AF_INET, api.SOCK_DGRAM)
        sock.bind(("0.0.0.0", 7000 + n))
        servers.append(sock)
    client = hosts.a.socket(api.AF_INET, api.SOCK_DGRAM)
    yield servers, client, hosts
    for sock in [*servers, client]:
        sock.close()


def send_to(client, servers, indices, hosts, payload=b"data"):
    """Send one datagram to each server in `indices` and wait until b has queued them."""
    before = hosts.b.counters["udp.rx.datagrams"]
    for i in indices:
        client.sendto(payload, (B_IP, servers[i].getsockname()[1]))
    assert wait_until(lambda: hosts.b.counters["udp.rx.datagrams"] == before + len(indices))


# --- poll ----------------------------------------------------------------------------------


def test_poll_reports_exactly_the_sockets_with_data(many):
    servers, client, hosts = many
    poller = api.poll()
    for sock in servers:
        poller.register(sock, api.POLLIN)
    assert poller.poll(0) == []
    send_to(client, servers, [2, 5, 11], hosts)
    ready = dict(poller.poll(1000))
    assert ready == {servers[i].fileno(): api.POLLIN for i in (2, 5, 11)}
    assert dict(poller.poll(0)) == ready  # poll(2) is level-triggered
    for i in (2, 5, 11):
        servers[i].recv(100)
    assert poller.poll(0) == []


def test_poll_sleeps_until_data_arrives_from_another_thread(many):
    servers, client, hosts = many
    poller = api.poll()
    for sock in servers:
        poller.register(sock.fileno(), api.POLLIN)  # file numbers work too
    threading.Timer(0.05, lambda: client.sendto(b"late", (B_IP, 7007))).start()
    assert poller.poll(TIMEOUT * 1000) == [(servers[7].fileno(), api.POLLIN)]


def test_poll_timeout_pollout_modify_unregister_and_pollnval(many):
    servers, _client, _hosts = many
    poller = api.poll()
    poller.register(servers[0], api.POLLIN)
    assert poller.poll(50) == []  # the timeout is in milliseconds
    poller.modify(servers[0], api.POLLIN | api.POLLOUT)
    assert poller.poll(0) == [(servers[0].fileno(), api.POLLOUT)]  # room to send
    poller.unregister(servers[0])
    assert poller.poll(0) == []
    with pytest.raises(KeyError):
        poller.unregister(servers[0])
    with pytest.raises(FileNotFoundError):
        poller.modify(servers[1], api.POLLIN)
    fileno = servers[1].fileno()
    poller.register(servers[1], api.POLLIN)
    servers[1].close()
    assert poller.poll(0) == [(fileno, api.POLLNVAL)]


def test_poll_reports_an_error_pending_on_a_connected_socket(hosts):
    with hosts.a.socket(api.AF_INET, api.SOCK_DGRAM) as sock:
        sock.connect((B_IP, 9999))
        poller = api.poll()
        poller.register(sock, api.POLLIN)
        sock.send(b"refused")
        assert poller.poll(TIMEOUT * 1000) == [(sock.fileno(), api.POLLERR)]
        with pytest.raises(ConnectionRefusedError):
            sock.recv(10)


def test_host_close_wakes_poll_with_pollhup(hosts):
    sock = hosts.b.socket(api.AF_INET, api.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 7))
    poller = api.poll()
    poller.register(sock, api.POLLIN)
    results = []
    waiting = threading.Thread(target=lambda: results.append(poller.poll(TIMEOUT * 1000)))
    waiting.start()
    threading.Timer(0.05, hosts.b.close).start()
    waiting.join(TIMEOUT)
    assert results == [[(sock.fileno(), api.POLLERR | api.POLLHUP)]]


# --- epoll ---------------------------------------------------------------------------------


def test_epoll_level_triggered_reports_until_drained(many):
    servers, client, hosts = many
    with api.epoll() as ep:
        for sock in servers:
            ep.register(sock, api.EPOLLIN)
        assert ep.poll(0) == []
        send_to(client, servers, [3, 4], hosts)
        expected = {servers[3].fileno(), servers[4].fileno()}
        assert {fd for fd, _ in ep.poll(1.0)} == expected
        assert {fd for fd, _ in ep.poll(0)} == expected  # still unread: reported again
        servers[3].recv(10)
        assert ep.poll(0) == [(servers[4].fileno(), api.EPOLLIN)]


def test_epoll_edge_triggered_reports_once_per_arrival(many):
    servers, client, hosts = many
    with api.epoll() as ep:
        ep.register(servers[0], api.EPOLLIN | api.EPOLLET)
        send_to(client, servers, [0], hosts)
        assert ep.poll(1.0) == [(servers[0].fileno(), api.EPOLLIN)]
        assert ep.poll(0) == []  # not drained, but nothing new arrived: no event
        send_to(client, servers, [0], hosts)
        assert ep.poll(1.0) == [(servers[0].fileno(), api.EPOLLIN)]  # a new arrival
        assert ep.poll(0.05) == []
        assert servers[0].recv(10) == b"data" and servers[0].recv(10) == b"data"
        send_to(client, servers, [0, 0], hosts)  # two arrivals before we look: one event
        assert ep.poll(1.0) == [(servers[0].fileno(), api.EPOLLIN)]
        assert ep.poll(0) == []


def test_epoll_edge_triggered_pollout_does_not_repeat_old_input(many):
    servers, client, hosts = many
    with api.epoll() as ep:
        ep.register(servers[0], api.EPOLLIN | api.EPOLLOUT | api.EPOLLET)
        assert ep.poll(0) == [(servers[0].fileno(), api.EPOLLOUT)]  # writable when added
        assert ep.poll(0) == []
        send_to(client, servers, [0], hosts)
        assert ep.poll(1.0) == [(servers[0].fileno(), api.EPOLLIN | api.EPOLLOUT)]
        assert ep.poll(0) == []


def test_epoll_oneshot_reports_once_until_modified(many):
    servers, client, hosts = many
    with api.epoll() as ep:
        ep.register(servers[0], api.EPOLLIN | api.EPOLLONESHOT)
        send_to(client, servers, [0, 0], hosts)
        assert ep.poll(1.0) == [(servers[0].fileno(), api.EPOLLIN)]
        send_to(client, servers, [0], hosts)
        assert ep.poll(0.05) == []
        ep.modify(servers[0], api.EPOLLIN | api.EPOLLONESHOT)
        assert ep.poll(0) == [(servers[0].fileno(), api.EPOLLIN)]


def test_epoll_maxevents_shares_out_the_ready_sockets_fairly(many):
    servers, client, hosts = many
    with api.epoll() as ep:
        for sock in servers:
            ep.register(sock, api.EPOLLIN)
        send_to(client, servers, range(10), hosts)
        seen = []
        for _ in range(5):
            batch = ep.poll(1.0, maxevents=2)
            assert len(batch) == 2
            seen += [fd for fd, _ in batch]
        assert sorted(seen) == sorted(servers[i].fileno() for i in range(10))


def test_epoll_register_errors_and_closed_sockets_leave_the_set(many):
    servers, _client, _hosts = many
    ep = api.epoll()
    ep.register(servers[0], api.EPOLLIN)
    with pytest.raises(FileExistsError):
        ep.register(servers[0], api.EPOLLIN)
    with pytest.raises(FileNotFoundError):
        ep.modify(servers[1], api.EPOLLIN)
    with pytest.raises(FileNotFoundError):
        ep.unregister(servers[1])
    servers[0].close()
    with pytest.raises(FileNotFoundError):
        ep.unregister(servers[0]._fileno)  # closing removed it
    with pytest.raises(OSError) as info:
        ep.register(servers[0], api.EPOLLIN)
    assert info.value.errno == errno.EBADF
    ep.close()
    with pytest.raises(ValueError):
        ep.poll(0)


def test_one_epoll_thread_echoes_for_many_sockets(hosts):
    """An echo server: 50 sockets, one thread, one epoll; 500 datagrams all come back."""
    servers = [hosts.b.socket(api.AF_INET, api.SOCK_DGRAM) for _ in range(50)]
    stop = threading.Event()
    by_fd = {}
    ep = api.epoll()
    for n, sock in enumerate(servers):
        sock.bind(("0.0.0.0", 8000 + n))
        sock.setblocking(False)
        by_fd[sock.fileno()] = sock
        ep.register(sock, api.EPOLLIN | api.EPOLLET)

    def serve():
        while not stop.is_set():
            for fd, _events in ep.poll(0.1):
                sock = by_fd[fd]
                while True:  # edge-triggered: drain until EAGAIN
                    try:
                        data, peer = sock.recvfrom(2048)
                    except BlockingIOError:
                        break
                    sock.sendto(data, peer)

    server = threading.Thread(target=serve)
    server.start()
    client = hosts.a.socket(api.AF_INET, api.SOCK_DGRAM)
    client.settimeout(TIMEOUT)
    try:
        expected = set()
        for n in range(500):
            message = b"%d" % n
            expected.add(message)
            client.sendto(message, (B_IP, 8000 + n % 50))
            if n % 25 == 24:  # keep fewer in flight than the receive queues hold
                for _ in range(25):
                    expected.discard(client.recv(100))
        assert expected == set()
        assert hosts.b.counters["udp.drop.rcvbuf_full"] == 0
        assert hosts.a.counters["udp.drop.rcvbuf_full"] == 0
    finally:
        stop.set()
        server.join(TIMEOUT)
        client.close()
        for sock in servers:
            sock.close()
        ep.close()
