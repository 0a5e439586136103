"""The socket API: netstack shaped like Python's `socket` and `select` modules.

    from netstack import api

    with api.Host.open("memory:lab", "192.0.2.2/24") as host:
        s = host.socket(api.AF_INET, api.SOCK_DGRAM)
        s.bind(("0.0.0.0", 7))
        ep = api.epoll()
        ep.register(s, api.EPOLLIN)

    host.py         Host: a running stack (engine thread) and its sockets
    base_socket.py  what every socket shares: blocking, timeouts, readiness, errors
    udp_socket.py   SOCK_DGRAM
    tcp_socket.py   SOCK_STREAM (options in tcp_options.py, makefile() in stream_file.py)
    poll.py         poll() and epoll() over stack sockets
    constants.py    AF_*, SOCK_*, SO_*, MSG_*, POLL*, EPOLL* (the stdlib's values)
    ping.py         ping()

Errors are OSErrors carrying errno codes (ConnectionRefusedError, BlockingIOError...);
timeouts raise TimeoutError, as the stdlib's sockets do.
"""

from netstack.api.base_socket import StackSocket
from netstack.api.constants import (
    AF_INET,
    EPOLLERR,
    EPOLLET,
    EPOLLHUP,
    EPOLLIN,
    EPOLLONESHOT,
    EPOLLOUT,
    EPOLLRDHUP,
    INADDR_ANY,
    INADDR_BROADCAST,
    IPPROTO_TCP,
    MSG_DONTWAIT,
    MSG_PEEK,
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLNVAL,
    POLLOUT,
    POLLPRI,
    POLLRDHUP,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
    SO_BROADCAST,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_RCVBUF,
    SO_REUSEADDR,
    SO_SNDBUF,
    SO_TYPE,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_SOCKET,
    TCP_CONGESTION,
    TCP_INFO,
    TCP_KEEPCNT,
    TCP_KEEPIDLE,
    TCP_KEEPINTVL,
    TCP_NODELAY,
)
from netstack.api.host import Host
from netstack.api.poll import Epoll, Poll, epoll, poll
from netstack.api.tcp_socket import TcpSocket
from netstack.api.udp_socket import UdpSocket

__all__ = [
    "AF_INET", "EPOLLERR", "EPOLLET", "EPOLLHUP", "EPOLLIN", "EPOLLONESHOT", "EPOLLOUT",
    "INADDR_ANY", "INADDR_BROADCAST", "MSG_DONTWAIT", "MSG_PEEK", "POLLERR", "POLLHUP", "POLLIN",
    "POLLNVAL", "POLLOUT", "POLLPRI", "SOCK_DGRAM", "SOCK_STREAM", "SOL_SOCKET", "SO_BROADCAST",
    "SO_ERROR", "SO_RCVBUF", "SO_REUSEADDR", "SO_SNDBUF", "SO_TYPE", "Epoll", "Host", "Poll",
    "StackSocket", "UdpSocket", "epoll", "poll",
    "EPOLLRDHUP", "IPPROTO_TCP", "POLLRDHUP", "SHUT_RD", "SHUT_RDWR", "SHUT_WR", "SO_KEEPALIVE",
    "SO_LINGER", "TCP_CONGESTION", "TCP_KEEPCNT", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_NODELAY", "TcpSocket",
    "TCP_INFO",
]
